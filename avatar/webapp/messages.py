"""Every failure as one sentence for the page: CLI hints reworded, tracebacks never shown.

Nothing here imports gradio at module level; ``to_gr_error`` and
``guard_preprocess`` import it when called.
"""

from __future__ import annotations

import logging
import re

from avatar.errors import AvatarError

log = logging.getLogger(__name__)


GENERIC_ERROR = (
    "Something went wrong while making the video; please try again, "
    "or try another photo or voice-over."
)


IMAGE_UNREADABLE = (
    "The portrait is not an image file that can be read; use a photo in jpg, png or webp format."
)


AUDIO_UNREADABLE = (
    "The voice-over is not an audio file that can be read; use wav, mp3, m4a, ogg, opus or flac."
)


class Cancelled(Exception):
    """The user cancelled the request (or left the page) while it ran."""


_WEB_WORDING = (
    (re.compile(r"\s*\((?:change it with )?--max-audio-minutes\)"), " (use a shorter clip)"),
    (
        re.compile(r"\(0 is the largest; choose another with --face-index\)"),
        "(choose another in the Face menu)",
    ),
    (re.compile(r"with --face-index"), "in the Face menu"),
    (re.compile(r"--face-index"), "the Face menu"),
    (re.compile(r", or pass --[a-z0-9-]+ PATH to a copy you already have"), ""),
)


def for_web(message: str) -> str:
    """Reword CLI hints (``--face-index``, ``--max-audio-minutes``) for the web page."""
    for pattern, replacement in _WEB_WORDING:
        message = pattern.sub(replacement, message)
    return message


def user_message(exc: BaseException) -> str:
    """One sentence for the user; never a traceback or an internal detail."""
    if isinstance(exc, AvatarError):
        return for_web(str(exc)) or GENERIC_ERROR
    if isinstance(exc, Cancelled):
        return "The video was cancelled."
    if isinstance(exc, MemoryError):
        return "The photo or voice-over is too large to process here; use a smaller photo or a shorter clip."
    return GENERIC_ERROR


def to_gr_error(exc: BaseException, title: str = "Could not make the video"):
    """The ``gr.Error`` to raise for ``exc``; unexpected errors are logged with their traceback."""
    import gradio as gr

    if isinstance(exc, gr.Error):
        return exc
    expected = isinstance(exc, (AvatarError, Cancelled))
    if not expected:
        log.error("unexpected error in the web app", exc_info=exc)
    return gr.Error(user_message(exc), title=title, print_exception=False)


def guard_preprocess(component, message: str):
    """Make ``component`` answer an input it cannot even open (a text file sent as the
    portrait, say) with ``message`` as a ``gr.Error`` rather than gradio's generic error."""
    import gradio as gr

    original = component.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - every unreadable upload gets the one sentence
            log.info("unreadable upload for %s: %s", type(component).__name__, exc)
            raise gr.Error(message, title="Unreadable file", print_exception=False) from None

    component.preprocess = preprocess
    return component
