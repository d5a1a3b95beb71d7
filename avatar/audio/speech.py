"""The decoded voice-over that every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


@dataclass
class Speech:
    """16 kHz mono float32 audio, loudness-normalised.

    ``samples`` is what analysis stages read; the video stage muxes
    ``samples`` too, so the audio in the video is exactly what was analysed.
    """

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source: Path | None = None
    input_loudness_lufs: float | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def n_frames(self, fps: float) -> int:
        """Frames needed to cover the audio at ``fps`` (rounded to nearest)."""
        return max(1, int(round(self.duration * fps)))
