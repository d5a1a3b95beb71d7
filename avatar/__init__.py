"""talking-avatar: one portrait + a voice-over -> a talking-head video, on a plain CPU.

Importing the package is cheap; stages load their models on first use.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def generate(image, audio, output: str | Path, *, progress=None, **settings):
    """Make a talking-head mp4 and return the pipeline output (video path, motion, timings).

    ``settings`` are the fields of ``avatar.settings.GenerationSettings``
    (fps, size, seed, head_motion, blink_rate, expression, face_index, ...).
    """
    from avatar.settings import GenerationSettings
    from pipelines import TalkingPortraitPipeline

    return TalkingPortraitPipeline()(
        image, audio, GenerationSettings(**settings), output=output, progress=progress
    )


__all__ = ["__version__", "generate"]
