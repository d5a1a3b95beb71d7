"""Audio stage: decode any voice-over into 16 kHz mono, loudness-normalised ``Speech``."""

from __future__ import annotations

from avatar.audio.decode import (
    SILENCE_LUFS,
    load_audio,
    load_voiceover,
    measure_loudness,
    normalize_loudness,
)
from avatar.audio.speech import SAMPLE_RATE, Speech

__all__ = [
    "SAMPLE_RATE",
    "SILENCE_LUFS",
    "Speech",
    "load_audio",
    "load_voiceover",
    "measure_loudness",
    "normalize_loudness",
]
