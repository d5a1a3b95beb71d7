"""Decode an input video frame by frame (RGB uint8), for dubbing: never all frames at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from avatar.errors import AvatarError


class VideoInputError(AvatarError):
    """The input video cannot be read or has no picture."""


def video_fps(path: str | os.PathLike[str]) -> float:
    """The frame rate of the first video stream (25 when the file does not say)."""
    import av

    path = _check(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoInputError(f"The file '{path.name}' has no video track.")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate or stream.guessed_rate
            return float(rate) if rate else 25.0
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoInputError(f"The file '{path.name}' is not a video that can be read.") from exc


def iter_frames(path: str | os.PathLike[str], *, loop: bool = False) -> Iterator[np.ndarray]:
    """RGB frames of the first video stream; with ``loop`` it starts over at the end, forever."""
    import av

    path = _check(path)
    while True:
        count = 0
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise VideoInputError(f"The file '{path.name}' has no video track.")
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    count += 1
                    yield frame.to_ndarray(format="rgb24")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            if count == 0:
                raise VideoInputError(
                    f"The file '{path.name}' is not a video that can be read."
                ) from exc
            # A damaged tail: keep what was decoded.
        if count == 0:
            raise VideoInputError(f"The video '{path.name}' has no frames.")
        if not loop:
            return


def _check(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoInputError(f"The video file '{path}' does not exist.")
    return path
