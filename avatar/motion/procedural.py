"""The procedural motion generator: rules, no weights.

Mouth channels come from the viseme track (``avatar.motion.mouth``); blinks
are a renewal process that prefers pauses; head motion is slow coloured noise
whose amplitude follows speaking, plus nods on stressed syllables; brows rise
on pitch accents; the eyes hold fixations with quick saccades and counter-
rotate against head turns so the gaze stays on the viewer.  Everything is a
pure function of the inputs and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from avatar.audio.features import AudioFeatures
from avatar.motion.types import Motion

BLINKS_PER_MINUTE = 18.0  # conversation sits at 10-30/min; voice-over toward the middle
YAW_STD = 2.6  # degrees at head_motion = 1 while speaking
PITCH_STD = 1.7
ROLL_STD = 1.1
PAUSE_GAIN = 0.45  # head motion in pauses relative to speech


@dataclass
class MotionControls:
    """User knobs; 1.0 is the natural default, 0 switches a component off."""

    head_motion: float = 1.0
    blink_rate: float = 1.0
    expression: float = 1.0
    seed: int = 0


def generate_motion(
    features: AudioFeatures,
    mouth: dict[str, np.ndarray],
    controls: MotionControls | None = None,
) -> Motion:
    """Full Motion for the clip: mouth from ``mouth``, the rest from the audio and the seed."""
    c = controls or MotionControls()
    fps = features.fps
    n = features.n_frames
    rng = np.random.default_rng(c.seed)
    motion = Motion.zeros(n, fps)
    for name, values in mouth.items():
        motion[name] = np.asarray(values, np.float32)[:n]

    speaking = np.clip(np.asarray(features.speaking, np.float64), 0, 1)
    head = _head_motion(features, speaking, fps, n, rng, c.head_motion)
    for name, values in head.items():
        motion[name] = values

    blink = blink_track(
        n, fps, rng, rate_per_min=BLINKS_PER_MINUTE * c.blink_rate, speaking=speaking
    )
    asym = 1.0 + rng.normal(0, 0.03)
    motion["blink_left"] = np.clip(blink, 0, 1)
    motion["blink_right"] = np.clip(blink * asym, 0, 1)

    gaze_x, gaze_y = _gaze(n, fps, rng, speaking)
    # Counter-rotate against the head so the eyes stay on the viewer.
    motion["gaze_x"] = np.clip(gaze_x - 0.35 * motion["yaw"] / 15.0, -1, 1)
    motion["gaze_y"] = np.clip(gaze_y - 0.25 * motion["pitch"] / 10.0, -1, 1)

    brow = _brows(features, speaking, fps, n, rng) * c.expression
    motion["brow_inner"] = brow
    motion["brow_outer"] = 0.7 * brow
    smile = _slow_noise(n, fps, rng, seconds=4.0) * 0.06 + 0.08
    motion["smile"] = np.clip(motion["smile"] + smile * c.expression, 0, 1)
    motion.meta.update({"generator": "procedural", "seed": c.seed})
    return motion


# -- head ------------------------------------------------------------------------------------
def _slow_noise(n: int, fps: float, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Unit-std noise with energy below ~1/seconds Hz."""
    pad = int(3 * seconds * fps)
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma=seconds * fps / 2.5)[pad:-pad]
    return x / (x.std() + 1e-9) if n > 1 else np.zeros(n)


def _head_motion(features, speaking, fps, n, rng, amount: float) -> dict[str, np.ndarray]:
    gain = PAUSE_GAIN + (1 - PAUSE_GAIN) * gaussian_filter1d(speaking, 0.4 * fps)
    yaw = _slow_noise(n, fps, rng, 2.8) * 0.8 + _slow_noise(n, fps, rng, 1.2) * 0.45
    pitch = _slow_noise(n, fps, rng, 2.2) * 0.7 + _slow_noise(n, fps, rng, 0.9) * 0.35
    roll = _slow_noise(n, fps, rng, 3.5)
    nods = _nods(features, speaking, fps, n)
    out = {
        "yaw": YAW_STD * gain * yaw,
        "pitch": PITCH_STD * gain * pitch + 1.6 * nods,
        "roll": ROLL_STD * gain * roll + 0.25 * yaw,
    }
    # Emphasis turns the head slightly toward the side it is already on.
    out["yaw"] += 0.6 * nods * np.tanh(out["yaw"] / YAW_STD)
    out = {k: amount * gaussian_filter1d(v, 1.2) for k, v in out.items()}
    out["tx"] = 0.012 * out["yaw"] / YAW_STD
    out["ty"] = 0.008 * out["pitch"] / PITCH_STD
    out["scale"] = amount * 0.006 * _slow_noise(n, fps, rng, 5.0)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _nods(features: AudioFeatures, speaking: np.ndarray, fps: float, n: int) -> np.ndarray:
    """Chin-down bumps on stressed syllables: loud, high-pitched energy peaks."""
    energy = np.asarray(features.energy, np.float64)
    accent = gaussian_filter1d(energy, 0.06 * fps) + 0.25 * np.clip(
        np.asarray(features.pitch_z, np.float64), 0, 2.5
    )
    accent *= speaking
    peaks, props = find_peaks(accent, distance=max(1, int(0.45 * fps)), prominence=0.15)
    track = np.zeros(n)
    for p, prom in zip(peaks, props["prominences"]):
        track[p] += min(1.0, prom / 0.6)
    # A nod leads the stressed syllable slightly and lasts about half a second.
    width = 0.15 * fps
    track = np.roll(gaussian_filter1d(track, width) * width * 2.5, -int(0.06 * fps))
    return np.clip(track, 0, 1.5)


# -- eyes ------------------------------------------------------------------------------------
def blink_track(
    n: int,
    fps: float,
    rng: np.random.Generator,
    *,
    rate_per_min: float,
    speaking: np.ndarray | None = None,
) -> np.ndarray:
    """Eyelid closure 0..1 per frame: blinks 100-400 ms long, preferably in pauses."""
    out = np.zeros(n)
    if rate_per_min <= 0 or n == 0:
        return out
    mean_gap = 60.0 / rate_per_min
    t = rng.uniform(0.3, min(mean_gap, 2.5))
    duration = n / fps
    while t < duration:
        centre = t
        if speaking is not None:
            centre = _nearest_pause(speaking, fps, t, window=0.7)
        length = float(np.clip(rng.lognormal(np.log(0.27), 0.22), 0.16, 0.38))
        depth = 1.0 if rng.random() < 0.85 else rng.uniform(0.6, 0.85)
        _add_blink(out, fps, centre, length, depth)
        # Gamma-distributed gaps (shape 3): regular-ish, never two blinks on top of each other.
        t = centre + max(0.8, rng.gamma(3.0, mean_gap / 3.0))
    return np.clip(out, 0, 1)


def _nearest_pause(speaking: np.ndarray, fps: float, t: float, window: float) -> float:
    i = int(t * fps)
    lo, hi = max(0, i - int(window * fps)), min(len(speaking), i + int(window * fps) + 1)
    if hi <= lo:
        return t
    seg = speaking[lo:hi]
    j = int(np.argmin(seg + np.abs(np.arange(lo, hi) - i) / (window * fps) * 0.3))
    return (lo + j + 0.5) / fps if seg[j] < 0.5 <= speaking[min(i, len(speaking) - 1)] else t


def _add_blink(out: np.ndarray, fps: float, centre: float, length: float, depth: float) -> None:
    """A fast close (~35 %), a short hold, a slower open (~50 %); the peak lands on a frame."""
    peak_frame = int(round(centre * fps))
    close = 0.35 * length * fps
    hold = 0.15 * length * fps
    open_ = 0.5 * length * fps
    lo = max(0, int(np.floor(peak_frame - close)))
    hi = min(len(out), int(np.ceil(peak_frame + hold + open_)) + 1)
    for f in range(lo, hi):
        d = f - peak_frame
        if d < 0:
            x = 1 + d / close
        elif d <= hold:
            x = 1.0
        else:
            x = 1 - (d - hold) / open_
        if x > 0:
            out[f] = max(out[f], depth * (x * x * (3 - 2 * x)) ** 0.7)


def _gaze(n: int, fps: float, rng: np.random.Generator, speaking: np.ndarray):
    """Fixations of 0.6-3 s joined by saccades of about two frames."""
    gx, gy = np.zeros(n), np.zeros(n)
    f = 0
    x = y = 0.0
    while f < n:
        hold = int(rng.uniform(0.6, 3.0) * fps)
        spread = 0.12 if speaking[min(f, n - 1)] > 0.5 else 0.25
        nx, ny = rng.normal(0, spread), rng.normal(0, spread * 0.5)
        ramp = min(2, n - f)
        for k in range(ramp):
            a = (k + 1) / (ramp + 1)
            gx[f + k], gy[f + k] = x + (nx - x) * a, y + (ny - y) * a
        x, y = nx, ny
        gx[f + ramp : f + hold] = x
        gy[f + ramp : f + hold] = y
        f += max(hold, ramp + 1)
    return np.clip(gx, -0.6, 0.6), np.clip(gy, -0.4, 0.4)


def _brows(features, speaking, fps, n, rng) -> np.ndarray:
    pz = np.clip(np.asarray(features.pitch_z, np.float64) - 0.8, 0, 2) * speaking
    peaks, _ = find_peaks(gaussian_filter1d(pz, 0.05 * fps), distance=int(1.2 * fps), height=0.4)
    track = np.zeros(n)
    for p in peaks:
        if rng.random() < 0.7:
            track[p] = rng.uniform(0.35, 0.7)
    track = gaussian_filter1d(track, 0.18 * fps) * (0.18 * fps) * 2.5
    return np.clip(track + 0.05 * _slow_noise(n, fps, rng, 3.0), -0.2, 1.0).astype(np.float32)
