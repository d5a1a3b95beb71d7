"""Talking portrait web app: upload a portrait and a voice-over, get a talking-head video.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--concurrency N]

The page's layout and wiring only. What each event does lives in
``avatar.webapp`` (one module per job: limits, messages, form, status,
previews, rigs, work folders, progress, plots, jobs, start-up, handlers); the
video is made by the same TalkingPortraitPipeline the CLI uses.
"""

import os
import time

_T0 = time.perf_counter()
# Before gradio is imported: no analytics, no version check, no hub telemetry, no GUI backend.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GLOG_minloglevel", "2")

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

try:  # Hugging Face ZeroGPU Spaces; a no-op everywhere else
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=180)
except ImportError:
    spaces = None

    def gpu(fn):
        return fn


from avatar.face import use_own_pixel_limits  # noqa: E402
from avatar.webapp import form, limits  # noqa: E402
from avatar.webapp.messages import AUDIO_UNREADABLE, IMAGE_UNREADABLE, guard_preprocess  # noqa: E402
from avatar.webapp.rigs import RigCache  # noqa: E402
from avatar.webapp.startup import EXAMPLES, WarmUp, example_files  # noqa: E402

# The face and speech models load in the background while gradio is imported, so the
# first request is fast.
RIGS = RigCache()
WARM_UP = WarmUp(RIGS) if __name__ == "__main__" else None

import gradio as gr  # noqa: E402

from avatar.webapp.handlers import WebApp  # noqa: E402

log = logging.getLogger("avatar.app")

APP = WebApp(rigs=RIGS, warm_up=WARM_UP)
# On ZeroGPU hardware the renders get a GPU (the example's too).
generate = gpu(APP.generate)
generate_example = gpu(APP.generate_example)
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(APP.workdirs.root / "examples-cache"))

CSS = """
#title h1 { margin-bottom: 0.2em; }
#face-info p, #audio-info p { margin: 0.15em 0; }
#generate-row { align-items: stretch; }
"""
THEME = gr.themes.Default(primary_hue="orange", secondary_hue="slate")


# --------------------------------------------------------------------------- layout


def build_demo() -> gr.Blocks:
    # gradio opens uploads with PIL too: one pixel policy for every thread of the app
    use_own_pixel_limits()
    with gr.Blocks(title="Talking portrait", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# Talking portrait\n"
            "One portrait photo and a voice-over become a talking-head video: lips, blinks "
            "and head motion follow the voice. Everything runs on this server; nothing is "
            "sent anywhere else.",
            elem_id="title",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    image = gr.Image(
                        label="Portrait",
                        type="filepath",
                        image_mode=None,
                        sources=["upload", "webcam", "clipboard"],
                        height=300,
                        elem_id="portrait",
                    )
                    guard_preprocess(image, IMAGE_UNREADABLE)
                    preview = gr.Image(
                        label="Detected face",
                        interactive=False,
                        height=300,
                        visible=False,
                        format="jpeg",
                        elem_id="face-preview",
                    )
                face_info = gr.Markdown(elem_id="face-info")
                face = gr.Dropdown(
                    label="Face to animate",
                    info="The numbers match the boxes in the preview; 1 is the largest face.",
                    choices=[("Face 1 (largest)", 0)],
                    value=0,
                    visible=False,
                    elem_id="face-choice",
                )
                if APP.tts is not None:
                    with gr.Tabs():
                        with gr.Tab("Voice-over"):
                            audio = _audio_input()
                        with gr.Tab("Type a script"):
                            script = gr.Textbox(
                                value="",
                                label="Script",
                                lines=4,
                                placeholder="Type what the portrait should say…",
                                info="Used when no voice-over is given above.",
                                elem_id="script",
                            )
                            voice = gr.Dropdown(
                                choices=APP.voices,
                                value="en-us" if "en-us" in APP.voices else None,
                                label="Voice (espeak-ng; its language shapes the mouth)",
                                elem_id="voice",
                            )
                            say = gr.Button("Preview speech", size="sm")
                            heard = gr.Audio(
                                label="Speech preview", interactive=False, elem_id="speech-preview"
                            )
                else:
                    audio = _audio_input()
                    script = gr.Textbox(value="", visible=False)
                    voice = gr.Textbox(value="", visible=False)
                    say = heard = None
                audio_info = gr.Markdown(elem_id="audio-info")

                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    with gr.Row():
                        preset = gr.Radio(
                            form.PRESET_CHOICES,
                            value="balanced",
                            label="Quality",
                            info="Fast encodes quickest; Quality makes the smallest, sharpest file.",
                        )
                        framing = gr.Radio(
                            list(form.FRAMINGS),
                            value=form.DEFAULT_FRAMING,
                            label="Framing",
                            info="A square crop around the face, or the whole photo.",
                        )
                    head_motion = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Head motion", info="0 still, 1 natural"
                    )
                    blink_rate = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Blink rate", info="0 none, 1 natural"
                    )
                    expression = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Expression", info="brows and smile"
                    )
                    with gr.Row(equal_height=False):
                        fps = gr.Radio(form.FPS_CHOICES, value=25, label="Frames per second")
                        with gr.Column(min_width=200):
                            seed = gr.Number(
                                value=0,
                                label="Seed",
                                precision=0,
                                minimum=0,
                                maximum=form.MAX_SEED,
                                info="Same seed, same head motion and blinks.",
                            )
                            dice = gr.Button("Random seed", size="sm", elem_id="dice")
                    motion = gr.Radio(
                        ["diffusion", "procedural"],
                        value=APP.motion.kind,
                        label="Motion engine",
                        info=APP.motion.reason,
                        interactive=APP.motion.available,
                    )
                    renderer = gr.Radio(
                        form.RENDERER_CHOICES,
                        value="warp",
                        label="Renderer",
                        info=APP.neural.reason,
                        interactive=APP.neural.available,
                        elem_id="renderer",
                    )
                    refine = gr.Checkbox(
                        value=False,
                        label="Wav2Lip lip refinement",
                        info=APP.wav2lip.reason,
                        interactive=APP.wav2lip.available,
                    )
                    gr.Markdown(APP.server_report, elem_id="server-info")
                with gr.Row(elem_id="generate-row"):
                    go = gr.Button("Generate video", variant="primary", scale=3, elem_id="generate")
                    stop = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel")

            with gr.Column(scale=5):
                video = gr.Video(
                    label="Talking portrait",
                    format="mp4",
                    interactive=False,
                    height=420,
                    elem_id="result-video",
                )
                download = gr.DownloadButton(
                    "Download MP4", visible=False, variant="secondary", elem_id="download"
                )
                summary = gr.Markdown(label="Summary", elem_id="summary")
                # A PNG file, not a gr.Plot: the example cache stores files by path, while an
                # inline plot overflowed the cache's CSV field limit ("Error" on the example).
                plot = gr.Image(
                    label="Motion",
                    show_label=False,
                    type="filepath",
                    format="png",
                    interactive=False,
                    buttons=[],  # the image's corner buttons would cover the plot's legend
                    elem_id="motion-plot",
                )

        outputs = [video, plot, summary]
        examples = example_files()
        if examples:
            gr.Examples(
                examples,
                inputs=[image, audio],
                outputs=outputs,
                fn=generate_example,
                cache_examples=True,
                cache_mode="lazy",
                label="Example (made on first click, then cached)",
                elem_id="examples",
            )

        private = {"api_visibility": "private", "queue": False}
        image.change(
            APP.on_new_portrait,
            image,
            [preview, face_info, face],
            api_visibility="undocumented",
            concurrency_id="preview",
            concurrency_limit=2,
            show_progress="minimal",
        )
        face.input(
            APP.on_portrait,
            [image, face],
            [preview, face_info, face],
            api_visibility="private",
            concurrency_id="preview",
            concurrency_limit=2,
            show_progress="minimal",
        )
        audio.change(APP.on_audio, audio, audio_info, api_visibility="private", concurrency_limit=2)
        dice.click(APP.random_seed, None, seed, **private)
        if say is not None:
            say.click(APP.preview_speech, [script, voice], heard, **private)
        video.change(APP.offer_download, video, download, **private)
        run = go.click(
            generate,
            [
                image,
                audio,
                script,
                preset,
                framing,
                fps,
                head_motion,
                blink_rate,
                expression,
                seed,
                face,
                refine,
                voice,
                motion,
                renderer,
            ],
            outputs,
            api_name="generate",
            concurrency_id="generate",
            concurrency_limit=limits.default_concurrency(),
            scroll_to_output=True,
            show_progress_on=video,
        )
        stop.click(APP.cancel, None, summary, cancels=[run], **private)
    return demo


def _audio_input():
    audio = gr.Audio(
        label="Voice-over",
        type="filepath",
        sources=["upload", "microphone"],
        elem_id="voice-over",
    )
    return guard_preprocess(audio, AUDIO_UNREADABLE)


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Talking portrait web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--concurrency", type=int, default=None, help="videos rendered at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.concurrency:
        os.environ["AVATAR_APP_CONCURRENCY"] = str(args.concurrency)
    demo = build_demo()
    demo.queue(max_size=limits.QUEUE_SIZE, default_concurrency_limit=limits.default_concurrency())
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=limits.MAX_FILE_SIZE,
        allowed_paths=[str(APP.workdirs.root), str(EXAMPLES)],
        theme=THEME,
        css=CSS,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        prevent_thread_lock=True,
        quiet=True,
    )
    warm = APP.ready()
    print(
        f"Talking portrait ready on http://{args.host}:{args.port} "
        f"in {time.perf_counter() - _T0:.1f} s (models loaded in {warm:.1f} s)",
        flush=True,
    )
    if demo.share_url:
        print(f"Public link: {demo.share_url}", flush=True)
    log.info(
        "renders at once: %d, queue: %d, uploads up to %s, voice-overs up to %.0f s, "
        "work folder: %s",
        limits.default_concurrency(),
        limits.QUEUE_SIZE,
        limits.MAX_FILE_SIZE,
        limits.MAX_AUDIO_SECONDS,
        APP.workdirs.root,
    )
    # `kill` / a container stop: leave through the finally below, so temp files go too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        demo.block_thread()
    finally:
        demo.close()
        APP.close()


if __name__ == "__main__":
    main()
