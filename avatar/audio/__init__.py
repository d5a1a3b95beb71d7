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


def interval_log_rms(samples, sample_rate: int, fps: float, n_frames: int):
    """ln(RMS) of the voice per video frame: the lip-sync reference (SciPy loads on use)."""
    from avatar.audio.features import interval_log_rms as _interval_log_rms

    return _interval_log_rms(samples, sample_rate, fps, n_frames)


__all__ = [
    "SAMPLE_RATE",
    "SILENCE_LUFS",
    "Speech",
    "interval_log_rms",
    "load_audio",
    "load_voiceover",
    "measure_loudness",
    "normalize_loudness",
]
