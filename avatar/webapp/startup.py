"""Start-up: the models warmed in the background while gradio loads, and the examples."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError
from avatar.webapp.rigs import RigCache

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def warm_up(rigs: RigCache, example_image: str | Path | None = None) -> float:
    """Load the face and speech models (and cache the example's rig); returns seconds taken."""
    t = time.perf_counter()
    from avatar.audio import Speech
    from avatar.speech import recognize_phones

    image = example_image or (EXAMPLES / "portrait.png")
    try:
        if Path(image).is_file():
            rigs.get(image, 0)
        else:
            from avatar.face import detect_faces

            detect_faces(np.zeros((128, 128, 3), np.uint8))
    except AvatarError:
        pass
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.05
    recognize_phones(Speech(noise))
    return time.perf_counter() - t


class WarmUp:
    """``warm_up`` in a background thread, started at once; ``wait()`` returns its seconds."""

    def __init__(self, rigs: RigCache, example_image: str | Path | None = None) -> None:
        self.seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(rigs, example_image), name="warm-up", daemon=True
        )
        self._thread.start()

    def _run(self, rigs: RigCache, example_image) -> None:
        try:
            self.seconds = warm_up(rigs, example_image)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only makes the first request slower
            self.error = exc
            log.warning("model warm-up failed: %s", exc)

    def wait(self, timeout: float | None = None) -> float:
        self._thread.join(timeout)
        return self.seconds


def example_files() -> list[list[str]]:
    """The shipped examples as (portrait, voice-over) rows, those that exist."""
    portrait = EXAMPLES / "portrait.png"
    voice = EXAMPLES / "voiceover.flac"
    if portrait.is_file() and voice.is_file():
        return [[str(portrait), str(voice)]]
    return []
