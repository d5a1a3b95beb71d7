"""The web app's parts, one module per job; ``app.py`` lays out the page with them.

- ``limits``: the ``AVATAR_APP_*`` limits from the environment
- ``messages``: every failure as one sentence for the page
- ``form``: the settings widgets' choices and ``GenerationSettings`` from their values
- ``status``: optional features (Wav2Lip, photoreal renderer, TTS, motion engine)
- ``previews``: the face preview and the voice-over's length, before Generate
- ``rigs``: analysed portraits cached by content
- ``workdirs``: per-request folders, swept and removed at exit
- ``progress``: one progress bar over the stages, and cancellation
- ``plots``: the motion plot, as a PNG file
- ``jobs``: one request through the pipeline into the page's outputs
- ``startup``: the background warm-up and the examples
- ``handlers``: the page's events (imports gradio)

The library is reached only through its public API (``pipelines``,
``avatar.settings``, ``avatar.face``, ``avatar.audio``, ...). Importing this
package imports nothing heavy.
"""
