"""The per-frame inputs and outputs of the motion model, as plain arrays.

Training and inference must build the conditioning exactly the same way, so
both call :func:`condition_matrix`. Every column is normalised per clip (or is
already scale-free), so the gain of a recording does not change the motion.

The model generates :data:`MODEL_CHANNELS`. Blinks are not among them: they
are placed explicitly (``avatar.motion.procedural.blink_track``), because no
small diffusion model guarantees natural blink rates (motion-diffusion.md §8).
The mouth channels are generated as a *residual* on top of the viseme curves
(``avatar.motion.mouth``), so the lips stay phone-accurate by construction.
"""

from __future__ import annotations

import numpy as np

from avatar.audio.features import HOP_RATE, AudioFeatures, area_average
from avatar.motion.mouth import CHANNELS as MOUTH_CHANNELS

MODEL_CHANNELS: tuple[str, ...] = (
    "yaw",
    "pitch",
    "roll",
    "tx",
    "ty",
    "scale",
    "gaze_x",
    "gaze_y",
    "brow_inner",
    "brow_outer",
) + tuple(MOUTH_CHANNELS)
HEAD = MODEL_CHANNELS[:6]
RESIDUAL_CHANNELS = tuple(MOUTH_CHANNELS)  # model output is added to the viseme curves

SCALAR_NAMES = (
    "log_rms_z",
    "onset",
    "energy",
    "voiced",
    "speaking",
    "pitch_z",
    "periodicity",
    "low_frac",
    "closure",
    "centroid",
)
N_MFCC_USED = 13
COND_NAMES: tuple[str, ...] = (
    SCALAR_NAMES + tuple(f"mfcc{i}" for i in range(N_MFCC_USED)) + tuple(MOUTH_CHANNELS)
)
COND_DIM = len(COND_NAMES)
_MFCC_SCALE = np.array([10.0] + [3.0] * (N_MFCC_USED - 1), np.float32)


def _zscore_on_speech(x: np.ndarray, speaking: np.ndarray) -> np.ndarray:
    ref = x[speaking > 0.5] if np.sum(speaking > 0.5) >= 5 else x
    mu, sd = float(np.mean(ref)), float(np.std(ref))
    return (x - mu) / max(sd, 1e-3)


def frame_mfcc(features: AudioFeatures) -> np.ndarray:
    """(n_frames, 13) cepstra averaged per video frame, mean-removed over the speech."""
    n = features.n_frames
    h = features.hires
    if h is None or h.mfcc is None:
        return np.zeros((n, N_MFCC_USED), np.float32)
    m = np.stack(
        [area_average(h.mfcc[:, i], HOP_RATE, features.fps, n) for i in range(N_MFCC_USED)], 1
    )
    active = np.asarray(features.speaking) > 0.5
    mean = m[active].mean(0) if active.sum() >= 5 else m.mean(0)
    return ((m - mean) / _MFCC_SCALE).astype(np.float32)


def condition_matrix(features: AudioFeatures, mouth: dict[str, np.ndarray]) -> np.ndarray:
    """(n_frames, COND_DIM) float32: audio descriptors, cepstra and viseme mouth curves."""
    n = features.n_frames
    speaking = np.clip(np.asarray(features.speaking, np.float32), 0, 1)
    log_rms = np.asarray(features.log_rms, np.float32)
    lz = np.clip(_zscore_on_speech(log_rms, speaking), -4, 3)
    onset = np.clip(np.diff(lz, prepend=lz[:1]), -2, 2)
    cols = [
        lz,
        onset,
        np.asarray(features.energy, np.float32),
        np.asarray(features.voiced, np.float32),
        speaking,
        np.clip(np.asarray(features.pitch_z, np.float32), -3, 3) / 2.0,
        np.asarray(features.periodicity, np.float32),
        np.asarray(features.low_frac, np.float32),
        np.asarray(features.closure, np.float32),
        np.asarray(features.centroid, np.float32) / 4000.0,
    ]
    scalars = np.stack(cols, 1)
    mouth_m = np.stack([np.asarray(mouth[c], np.float32)[:n] for c in MOUTH_CHANNELS], 1)
    out = np.concatenate([scalars, frame_mfcc(features), mouth_m], 1)
    return np.nan_to_num(out).astype(np.float32)


def mouth_matrix(mouth: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(n, 5) viseme mouth curves in MOUTH_CHANNELS order."""
    return np.stack([np.asarray(mouth[c], np.float32)[:n] for c in MOUTH_CHANNELS], 1)
