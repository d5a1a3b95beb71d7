"""``avatar eval``: the "what good output means" numbers of DESIGN.md, measured on any video.

Everything is measured from the video's own frames and audio track (or a separate
``audio_path``) with the tracker in :mod:`avatar.eval.tracker`, so a real recording
and our output are judged the same way. The pure functions (:func:`lipsync_correlation`,
:func:`detect_blinks`, :func:`audio_log_rms`, :func:`speech_mask`) take plain arrays so
they can be tested against known answers.

Conventions:

- frame t's audio window is [t/fps, (t+1)/fps) after the video stream's start;
- lag > 0 means the mouth lags the audio (``mouth[t + lag]`` pairs with ``audio[t]``);
- distances are fractions of the face width (landmark bounding box) unless stated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarError
from avatar.eval.tracker import EvalError, FaceTrack, FrameFace, audio_offset_s, track_video

#: Speech band of the lip-sync envelope. Energy below it (the voice bar of b/d/g, the
#: nasal murmur of m/n, room rumble, DC) radiates with the lips closed, and above it is
#: mostly fricative noise, so neither says how open the mouth is.
SPEECH_BAND_HZ = (300.0, 3400.0)
#: The envelope is floored this far below its 95th percentile, so digital silence
#: (-inf dB) in generated audio does not dominate the correlation.
ENVELOPE_FLOOR_DB = 60.0
#: Background pixels are those farther than this many face widths from the face centre.
BACKGROUND_FACE_WIDTHS = 1.5
OPEN_EYE_SHARE = 0.75  # eye aspect ratio, of the video's median, above which an eye is open

# Levels measured with this tracker on the six real GRID clips in shared/data/videos
# (see tests/eval/test_metrics.py); used as the "real video" reference in the table.
REAL_LIPSYNC_R0 = (0.14, 0.61, 0.45)  # min, max, median
#: Worst real clip's mean non-rigid landmark jitter (fraction of face width). FaceMesh in
#: video mode has a floor of its own: a still photo encoded with H.264 reads ~0.002.
REAL_JITTER = 0.0017
#: Jitter above this is visible flicker, not tracker noise (2x the real level).
JITTER_LIMIT = 2 * REAL_JITTER
#: Background PSNR target; H.264 (crf 23) of the still photo alone gives ~36 dB.
BACKGROUND_MIN_PSNR = 30.0
#: Flicker is measured on pixels farther than this many face widths from the face centre
#: whose frame-to-frame change stays under FLICKER_MOTION_LEVEL (larger changes are
#: motion: a shoulder, a hand), as the RMS frame difference in 0..255 levels.
FLICKER_FACE_WIDTHS = 1.0
FLICKER_MOTION_LEVEL = 12
#: DESIGN.md: descriptor distance to the source photo (dlib scale; same person < 0.6).
IDENTITY_MAX_DISTANCE = 0.35


@dataclass
class EvalReport:
    """All metrics of one video; NaN (None in ``to_dict``) where not measurable."""

    video: str
    n_frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    face_found_fraction: float
    tracker_fps: float
    tracker: str = "mediapipe"  # the landmarker that measured the face (``--tracker``)
    # lip sync
    audio_source: str | None = None
    lipsync_r0: float = float("nan")
    lipsync_best_lag: int | None = None
    lipsync_r_best: float = float("nan")
    lipsync_jaw_r0: float = float("nan")
    # SyncNet (syncnet_v2.model) lip-sync error, see avatar.eval.syncnet
    lse_d: float = float("nan")
    lse_c: float = float("nan")
    lse_offset: int | None = None
    # blinks
    blink_count: int = 0
    blinks_per_minute: float = float("nan")
    blink_durations_ms: list[float] = field(default_factory=list)
    # head pose (degrees; head speed in degrees per second)
    yaw_mean: float = float("nan")
    yaw_std: float = float("nan")
    pitch_mean: float = float("nan")
    pitch_std: float = float("nan")
    roll_mean: float = float("nan")
    roll_std: float = float("nan")
    speech_fraction: float = float("nan")
    head_speed_speech: float = float("nan")
    head_speed_pause: float = float("nan")
    head_speech_pause_ratio: float = float("nan")
    # smoothness (fractions of face width)
    landmark_jitter: float = float("nan")
    landmark_accel: float = float("nan")
    # background (vs the source photo; 0..255 scale)
    background_mad: float = float("nan")
    background_psnr: float = float("nan")
    background_worst_mad: float = float("nan")
    # flicker: RMS frame difference of the static background (0..255 levels)
    flicker: float = float("nan")
    flicker_worst: float = float("nan")
    # identity: dlib descriptor distance to the source photo on sampled frames
    identity_distance: float = float("nan")
    identity_worst: float = float("nan")
    identity_samples: int = 0
    #: the same over the sampled frames with both eyes open (dlib's descriptor moves 0.2-0.25
    #: when a face closes its eyes, so blinks raise the plain mean with identity unchanged)
    identity_open_eyes: float = float("nan")
    # container
    container: dict[str, Any] | None = None
    av_duration_diff_frames: float = float("nan")
    notes: list[str] = field(default_factory=list)
    track: FaceTrack | None = field(default=None, repr=False, compare=False)
    #: per-frame speech-band envelope (dB) the lip sync was measured against (plots)
    log_rms: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None, the per-frame series are left out)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("track", "log_rms")}
        return _json_clean(out)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, value, target, verdict) rows; verdict is "ok", "FAIL" or "" (no target)."""
        rows: list[tuple[str, str, str, str]] = []

        def add(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
            rows.append((name, value, target, "" if ok is None else ("ok" if ok else "FAIL")))

        def known(*values: float | None) -> bool:
            return all(v is not None and math.isfinite(v) for v in values)

        def num(value: float | None, fmt: str) -> str:
            return format(value, fmt) if known(value) else "n/a"

        add(
            "face found",
            f"{100 * self.face_found_fraction:.1f} %",
            ">= 99 %",
            self.face_found_fraction >= 0.99,
        )
        lo, hi, med = REAL_LIPSYNC_R0
        add(
            "lip sync r (lag 0)",
            num(self.lipsync_r0, ".2f"),
            f">= 0.55 (real {lo:.2f}-{hi:.2f})",
            self.lipsync_r0 >= 0.55 if known(self.lipsync_r0) else None,
        )
        lag = self.lipsync_best_lag
        add(
            "lip sync best lag",
            "n/a" if lag is None else f"{lag:+d} fr (r {self.lipsync_r_best:.2f})",
            "within +-1 frame",
            None if lag is None else abs(lag) <= 1,
        )
        add("jaw-audio r (lag 0)", num(self.lipsync_jaw_r0, ".2f"))
        if known(self.lse_d):
            add(
                "LSE-D / LSE-C (SyncNet)",
                f"{self.lse_d:.2f} / {num(self.lse_c, '.2f')} (offset {self.lse_offset:+d} fr)",
                "D lower, C higher is better",
            )
        durations = self.blink_durations_ms
        add(
            "blinks per minute",
            f"{num(self.blinks_per_minute, '.1f')} ({self.blink_count})",
            "10-30",
            10 <= self.blinks_per_minute <= 30 if known(self.blinks_per_minute) else None,
        )
        add(
            "blink durations",
            ", ".join(f"{d:.0f}" for d in durations) + " ms" if durations else "none",
            "100-400 ms each",
            all(100 <= d <= 400 for d in durations) if durations else None,
        )
        for axis in ("yaw", "pitch"):
            std = getattr(self, f"{axis}_std")
            add(
                f"{axis} mean / std",
                f"{num(getattr(self, f'{axis}_mean'), '+.1f')} / {num(std, '.2f')} deg",
                "std 1-6 deg",
                1.0 <= std <= 6.0 if known(std) else None,
            )
        add("roll mean / std", f"{num(self.roll_mean, '+.1f')} / {num(self.roll_std, '.2f')} deg")
        add(
            "head speed speech / pause",
            f"{num(self.head_speed_speech, '.1f')} / {num(self.head_speed_pause, '.1f')} deg/s",
        )
        ratio = self.head_speech_pause_ratio
        add(
            "head motion speech:pause",
            num(ratio, ".2f"),
            "> 1",
            ratio > 1.0 if known(ratio) else None,
        )
        add(
            "landmark jitter",
            f"{num(1000 * self.landmark_jitter, '.2f')} /1000 fw",
            f"<= {1000 * JITTER_LIMIT:.1f} (real {1000 * REAL_JITTER:.1f})",
            self.landmark_jitter <= JITTER_LIMIT if known(self.landmark_jitter) else None,
        )
        add("landmark accel", f"{num(1000 * self.landmark_accel, '.2f')} /1000 fw")
        if known(self.background_mad):
            add(
                "background MAD / PSNR",
                f"{self.background_mad:.2f} / {num(self.background_psnr, '.1f')} dB",
                f">= {BACKGROUND_MIN_PSNR:.0f} dB",
                self.background_psnr >= BACKGROUND_MIN_PSNR
                if known(self.background_psnr)
                else None,
            )
        if known(self.flicker):
            add(
                "background flicker (RMS / worst)",
                f"{self.flicker:.2f} / {num(self.flicker_worst, '.2f')} levels",
            )
        if known(self.identity_distance):
            add(
                "identity distance to source",
                f"{self.identity_distance:.3f} (worst {num(self.identity_worst, '.3f')}, "
                f"{self.identity_samples} frames; eyes open "
                f"{num(self.identity_open_eyes, '.3f')})",
                f"<= {IDENTITY_MAX_DISTANCE}",
                self.identity_distance <= IDENTITY_MAX_DISTANCE,
            )
        c = self.container
        if c is not None:
            codecs = f"{c.get('video_codec')} {c.get('pixel_format')} + {c.get('audio_codec')}"
            add(
                "container",
                codecs,
                "h264 yuv420p + aac",
                c.get("video_codec") == "h264"
                and c.get("pixel_format") == "yuv420p"
                and c.get("audio_codec") == "aac",
            )
            diff = self.av_duration_diff_frames
            add(
                "video - audio duration",
                f"{num(diff, '+.2f')} frames",
                "within 1 frame",
                abs(diff) <= 1.0 if known(diff) else None,
            )
        return rows

    def format_table(self) -> str:
        """A plain-text table of every metric with DESIGN.md's target and a verdict."""
        head = (
            f"{Path(self.video).name}: {self.n_frames} frames, {self.fps:g} fps, "
            f"{self.width}x{self.height}, {self.duration_s:.2f} s "
            f"(tracked{' by FAN, 68 points,' if self.tracker == 'fan' else ''} at "
            f"{self.tracker_fps:.0f} frames/s)"
        )
        rows = [("metric", "value", "target", "")] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [head]
        for r in rows:
            lines.append(
                f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _json_clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- audio


def audio_log_rms(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    n_frames: int,
    *,
    offset_s: float = 0.0,
    band_hz: tuple[float, float] | None = SPEECH_BAND_HZ,
    floor_db: float | None = ENVELOPE_FLOOR_DB,
) -> np.ndarray:
    """Per-video-frame speech-band energy in dB: frame t is [offset + t/fps, offset + (t+1)/fps).

    The band-pass is zero-phase (forward-backward), so it moves no energy in time. It
    runs in overlapping chunks so a long voice-over needs no full-length float64 copies.
    Frames with less than half a window of audio are NaN.
    """
    x = np.asarray(samples).ravel()
    sos = None
    if band_hz is not None:
        from scipy.signal import butter

        lo, hi = band_hz[0], min(band_hz[1], 0.45 * sample_rate)
        if 0 < lo < hi:
            sos = butter(4, [lo, hi], btype="bandpass", fs=sample_rate, output="sos")
    edges = np.round((offset_s + np.arange(n_frames + 1) / fps) * sample_rate).astype(np.int64)
    sums = np.zeros(n_frames + 2)  # slot 0: before frame 0, slot n+1: after the last frame
    chunk, pad = 30 * sample_rate, sample_rate // 2  # the filter's memory is ~20 ms
    for start in range(0, x.size, chunk):
        stop = min(start + chunk, x.size)
        lo_i, hi_i = max(0, start - pad), min(x.size, stop + pad)
        seg = x[lo_i:hi_i].astype(np.float64)
        if sos is not None and seg.size > 3 * (2 * len(sos) + 1):
            from scipy.signal import sosfiltfilt

            seg = sosfiltfilt(sos, seg)
        seg = seg[start - lo_i : start - lo_i + (stop - start)]
        slot = np.searchsorted(edges, np.arange(start, stop), side="right")
        sums += np.bincount(slot, weights=seg * seg, minlength=n_frames + 2)[: n_frames + 2]
    a = np.clip(edges[:-1], 0, x.size)
    b = np.clip(edges[1:], 0, x.size)
    full = np.maximum(edges[1:] - edges[:-1], 1)
    covered = b - a
    out = np.full(n_frames, np.nan)
    ok = covered * 2 >= full
    ms = sums[1 : n_frames + 1][ok] / np.maximum(covered[ok], 1)
    out[ok] = 10.0 * np.log10(np.maximum(ms, 1e-20))
    if floor_db is not None and np.any(ok):
        out[ok] = np.maximum(out[ok], np.percentile(out[ok], 95) - floor_db)
    return out


def speech_mask(
    log_rms: np.ndarray, fps: float, *, min_range_db: float = 10.0
) -> np.ndarray | None:
    """Simple energy VAD: True while speaking. None when there is no speech/pause contrast.

    The threshold is 30 % of the way (in dB) from the 10th to the 95th percentile (soft
    words sit 10-15 dB above the pauses in GRID, loud vowels 50 dB); gaps under
    0.25 s are closed (they are inside words) and bursts under 0.1 s are dropped.
    """
    from scipy.ndimage import binary_closing, binary_opening

    e = np.asarray(log_rms, dtype=np.float64)
    ok = np.isfinite(e)
    if ok.sum() < 3:
        return None
    p10, p95 = np.percentile(e[ok], [10, 95])
    if p95 - p10 < min_range_db:
        return None
    speech = np.where(ok, e, -np.inf) > p10 + 0.3 * (p95 - p10)
    close = max(1, round(0.25 * fps))
    opening = max(1, round(0.1 * fps))
    padded = np.pad(speech, close, mode="edge")
    speech = binary_closing(padded, structure=np.ones(close, bool))[close:-close]
    speech = binary_opening(speech, structure=np.ones(opening, bool))
    return speech & ok


# -------------------------------------------------------------------------- lip sync


def _pearson(a: np.ndarray, b: np.ndarray, min_n: int = 8) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_n:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else float("nan")


def lagged_correlation(mouth: np.ndarray, log_rms: np.ndarray, lag: int) -> float:
    """Pearson r of ``mouth[t + lag]`` with ``log_rms[t]`` (lag > 0: mouth lags audio)."""
    m = np.asarray(mouth, dtype=np.float64)
    e = np.asarray(log_rms, dtype=np.float64)
    n = min(len(m), len(e))
    m, e = m[:n], e[:n]
    if lag >= 0:
        return _pearson(m[lag:], e[: n - lag])
    return _pearson(m[: n + lag], e[-lag:])


def lipsync_correlation(
    mouth: np.ndarray, log_rms: np.ndarray, max_lag: int = 10
) -> tuple[float, int | None, float]:
    """(r at lag 0, best lag in [-max_lag, max_lag], r at the best lag).

    Positive lag means the mouth lags the audio by that many frames. Ties go to the
    smaller |lag|. NaN frames (no face, no audio) are left out of each correlation.
    """
    r0 = lagged_correlation(mouth, log_rms, 0)
    best_lag: int | None = None
    best = float("nan")
    for lag in sorted(range(-max_lag, max_lag + 1), key=lambda v: (abs(v), v)):
        r = lagged_correlation(mouth, log_rms, lag)
        if math.isfinite(r) and (best_lag is None or r > best + 1e-12):
            best_lag, best = lag, r
    return r0, best_lag, best


# ---------------------------------------------------------------------------- blinks


def _open_level(ear: np.ndarray, fps: float, window_s: float) -> np.ndarray:
    """Running 80th percentile of the eye aspect ratio: the open-eye level, robust to blinks."""
    from scipy.ndimage import percentile_filter

    ok = np.isfinite(ear)
    if not ok.any():
        return np.full_like(ear, np.nan)
    idx = np.arange(len(ear))
    filled = np.interp(idx, idx[ok], ear[ok])
    size = max(3, round(window_s * fps)) | 1
    return percentile_filter(filled, 80, size=size, mode="nearest")


def detect_blinks(
    ear: np.ndarray,
    fps: float,
    *,
    enter_ratio: float = 0.6,
    exit_ratio: float = 0.8,
    min_frames: int = 2,
    window_s: float = 5.0,
) -> list[tuple[int, int]]:
    """Blinks as (start, end) frame ranges, end exclusive.

    ``ear`` is (T,) or (T, 2) (one column per eye). Each eye is divided by its own
    running open level (so the threshold adapts to the person and the pose), the eyes
    are averaged, and a blink is a run below ``exit_ratio`` x open that dips below
    ``enter_ratio`` x open somewhere and lasts at least ``min_frames``; its duration is the whole run.
    """
    e = np.asarray(ear, dtype=np.float64)
    if e.ndim == 1:
        e = e[:, None]
    if e.size == 0:
        return []
    ratios = []
    for col in e.T:
        base = _open_level(col, fps, window_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(np.where(base > 0, col / base, np.nan))
    stack = np.stack(ratios, axis=1)
    counts = np.isfinite(stack).sum(axis=1)
    ratio = np.where(counts > 0, np.nansum(np.nan_to_num(stack, nan=0.0), axis=1), np.nan)
    ratio = ratio / np.maximum(counts, 1)
    below = np.nan_to_num(ratio, nan=np.inf) < exit_ratio
    core = np.nan_to_num(ratio, nan=np.inf) < enter_ratio
    blinks: list[tuple[int, int]] = []
    t, n = 0, len(ratio)
    while t < n:
        if not below[t]:
            t += 1
            continue
        start = t
        while t < n and below[t]:
            t += 1
        if t - start >= min_frames and core[start:t].any():
            blinks.append((start, t))
    return blinks


# ------------------------------------------------------------------ head and jitter


def _head_speed(track: FaceTrack, window_s: float = 0.3) -> np.ndarray:
    """Angular speed (deg/s) per frame of yaw, pitch and roll, NaN where no face.

    The derivative is a local quadratic fit over ``window_s`` (Savitzky-Golay):
    plain frame differences would measure the tracker's per-frame noise, not motion.
    """
    from scipy.signal import savgol_filter

    angles = np.stack([track.yaw, track.pitch, track.roll], axis=1)
    ok = np.all(np.isfinite(angles), axis=1)
    window = max(5, round(window_s * track.fps) | 1)
    if ok.sum() < window:
        return np.full(len(angles), np.nan)
    idx = np.arange(len(angles))
    filled = np.stack([np.interp(idx, idx[ok], a[ok]) for a in angles.T], axis=1)
    vel = savgol_filter(filled, window, 2, deriv=1, axis=0, mode="interp")
    speed = np.where(ok, np.sqrt(np.sum(vel * vel, axis=1)) * track.fps, np.nan)
    # The first frames carry the tracker's settling after detection, and the fit is
    # one-sided at both ends: leave half a window out at each end.
    speed[: window // 2] = np.nan
    speed[len(speed) - window // 2 :] = np.nan
    return speed


def _rms(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x * x))) if x.size else float("nan")


def landmark_jitter(track: FaceTrack) -> tuple[float, float]:
    """(non-rigid jitter, acceleration) of the stable landmarks, fractions of face width.

    Jitter: frame-to-frame change of each stable point's offset from the rigid 3-D
    template placed by the pose fit, so head motion (including rotation in depth)
    cancels and only flicker of the points relative to the head remains. Acceleration:
    second difference of the raw points, which also sees jerky rigid motion.
    """
    fw = track.face_width
    resid = (track.stable - track.stable_fit).astype(np.float64)
    d = resid[1:] - resid[:-1]
    per = np.sqrt(np.mean(np.sum(d * d, axis=2), axis=1)) / fw[1:]
    jitter = float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")
    p = track.stable.astype(np.float64)
    if len(p) < 3:
        return jitter, float("nan")
    a = p[2:] - 2.0 * p[1:-1] + p[:-2]
    per_a = np.sqrt(np.mean(np.sum(a * a, axis=2), axis=1)) / fw[1:-1]
    accel = float(np.nanmean(per_a)) if np.isfinite(per_a).any() else float("nan")
    return jitter, accel


# ------------------------------------------------------------------------ background


class _BackgroundMeter:
    """Compares each frame with the source photo far from the face, during the tracking pass."""

    def __init__(self, source: np.ndarray) -> None:
        self.source_full = source
        self.source: np.ndarray | None = None
        self.grid: tuple[np.ndarray, np.ndarray] | None = None
        self.skip: str | None = None
        self.mad: list[float] = []
        self.mse: list[float] = []

    def __call__(self, index: int, frame: np.ndarray, face: FrameFace | None) -> None:
        if self.skip is not None:
            return
        h, w = frame.shape[:2]
        if self.source is None:
            sh, sw = self.source_full.shape[:2]
            if abs(sw / sh - w / h) > 0.01 * (w / h):
                self.skip = "background skipped: the video's aspect differs from the photo (crop)"
                return
            self.source = source_at_video_size(self.source_full, w, h).astype(np.int16)
            # Every second pixel is plenty for a mean and keeps this ~1 ms a frame.
            yy, xx = np.mgrid[0:h:2, 0:w:2]
            self.grid = (xx.astype(np.float32), yy.astype(np.float32))
        if face is None:
            return
        xx, yy = self.grid
        radius = BACKGROUND_FACE_WIDTHS * face.face_width
        mask = (xx - face.center[0]) ** 2 + (yy - face.center[1]) ** 2 > radius * radius
        if mask.sum() < 0.02 * mask.size:
            return
        diff = frame[::2, ::2][mask].astype(np.int16) - self.source[::2, ::2][mask]
        self.mad.append(float(np.mean(np.abs(diff))))
        self.mse.append(float(np.mean(diff.astype(np.float32) ** 2)))


class _FlickerMeter:
    """Frame-difference energy of the static background, during the tracking pass.

    Per frame pair: pixels farther than FLICKER_FACE_WIDTHS face widths from the face
    centre (in both frames) whose change stays under FLICKER_MOTION_LEVEL, so real motion
    (a shoulder, a hand, the hair) is left out and what remains is shimmer, compression
    pumping or a background that is redrawn each frame. Every second pixel of grey.
    """

    def __init__(self) -> None:
        self.prev: np.ndarray | None = None
        self.prev_face: FrameFace | None = None
        self.grid: tuple[np.ndarray, np.ndarray] | None = None
        self.per_frame: list[float] = []

    def _outside(self, face: FrameFace) -> np.ndarray:
        xx, yy = self.grid
        r = FLICKER_FACE_WIDTHS * face.face_width
        return (xx - face.center[0]) ** 2 + (yy - face.center[1]) ** 2 > r * r

    def __call__(self, index: int, frame: np.ndarray, face: FrameFace | None) -> None:
        grey = frame[::2, ::2].astype(np.int16).sum(axis=2) // 3
        if self.grid is None:
            h, w = frame.shape[:2]
            yy, xx = np.mgrid[0:h:2, 0:w:2]
            self.grid = (xx.astype(np.float32), yy.astype(np.float32))
        prev, prev_face = self.prev, self.prev_face
        self.prev, self.prev_face = grey, face
        if prev is None or face is None or prev_face is None:
            return
        diff = grey - prev
        mask = self._outside(face) & self._outside(prev_face)
        mask &= np.abs(diff) < FLICKER_MOTION_LEVEL
        if mask.sum() < 0.02 * mask.size:
            return
        d = diff[mask].astype(np.float32)
        self.per_frame.append(float(np.sqrt(np.mean(d * d))))


def source_at_video_size(source: np.ndarray, w: int, h: int) -> np.ndarray:
    """The source photo as the video shows it at ``w`` x ``h``.

    A native-size video of an odd-sized photo drops its last row/column (H.264 wants
    even sizes), so that photo is cropped, not resized: a resize would shift every
    edge by up to half a pixel and read as a changed background.
    """
    import cv2

    sh, sw = source.shape[:2]
    if 0 <= sw - w <= 1 and 0 <= sh - h <= 1:
        return source[:h, :w]
    interp = cv2.INTER_AREA if sw > w else cv2.INTER_LINEAR
    return cv2.resize(source, (w, h), interpolation=interp)


def _chain(*callbacks):
    """One ``on_frame`` callback that calls each of ``callbacks`` that is not None."""
    active = [c for c in callbacks if c is not None]

    def call(index: int, frame: np.ndarray, face: FrameFace | None) -> None:
        for c in active:
            c(index, frame, face)

    return call


def _load_source(source: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(source, np.ndarray):
        img = source
    else:
        import cv2

        raw = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if raw is None:
            raise EvalError(f"The source image {source} cannot be read.")
        img = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)


# -------------------------------------------------------------------------- evaluate


def _load_audio(path: Path) -> np.ndarray | None:
    """16 kHz mono samples of ``path``, or None when it has no usable sound."""
    from avatar.audio.decode import load_audio
    from avatar.errors import AudioError

    try:
        speech = load_audio(path, max_seconds=math.inf)
    except AudioError:
        return None
    return np.asarray(speech.samples, dtype=np.float32)


def evaluate_video(
    video_path: str | Path,
    audio_path: str | Path | None = None,
    source_image: str | Path | np.ndarray | None = None,
    *,
    max_lag: int = 10,
    max_side: int = 512,
    keep_track: bool = True,
    syncnet_weights: str | Path | None = None,
    download_weights: bool = False,
    lse: bool = True,
    identity: bool = True,
    face_near: tuple[float, float] | None = None,
    tracker: str = "mediapipe",
) -> EvalReport:
    """Measure lip sync, blinks, head motion, jitter, background and container of a video.

    ``audio_path`` replaces the video's own sound track (assumed to start with frame 0);
    ``source_image`` (the portrait the video was made from) enables the background
    check and the identity distance (dlib, when installed; ``identity=False`` skips it).
    LSE-D/LSE-C are measured when SyncNet weights are at hand (``syncnet_weights``, the
    environment or the Hugging Face cache; ``download_weights`` fetches them; ``lse=False``
    skips them). One streaming pass over the frames for everything but SyncNet, which
    decodes the video once more; memory does not grow with frame size or length.
    ``face_near`` (x, y pixels) chooses which face to follow in a multi-face video.
    ``tracker="fan"`` measures with face-alignment's 68-point FAN instead of FaceMesh
    (see :func:`avatar.eval.tracker.track_video`); the thresholds were set on FaceMesh.
    """
    from avatar.audio.speech import SAMPLE_RATE

    video_path = Path(video_path)
    notes: list[str] = []
    source = _load_source(source_image) if source_image is not None else None
    meter = _BackgroundMeter(source) if source is not None else None
    flicker = _FlickerMeter()
    ident = (
        _identity_meter(video_path, source, notes, face_near, tracker)
        if identity and source is not None
        else None
    )
    track = track_video(
        video_path,
        max_side=max_side,
        on_frame=_chain(meter, flicker, ident),
        face_near=face_near,
        tracker=tracker,
    )
    n, fps = track.n_frames, track.fps
    if n < 2 or fps <= 0:
        raise EvalError(f"The file {video_path} has no moving frames to evaluate (not a video).")
    report = EvalReport(
        video=str(video_path),
        n_frames=n,
        fps=fps,
        width=track.width,
        height=track.height,
        duration_s=n / fps,
        face_found_fraction=track.found_fraction,
        tracker_fps=track.processing_fps,
        tracker=track.tracker,
        notes=notes,
        track=track if keep_track else None,
    )
    if not track.found.any():
        notes.append("no face was found in any frame")
    if flicker.per_frame:
        report.flicker = float(np.mean(flicker.per_frame))
        report.flicker_worst = float(np.max(flicker.per_frame))
    if ident is not None:
        notes.extend(ident.notes)
        if ident.skip:
            notes.append(ident.skip)
        else:
            mean, worst, count = ident.summary()
            report.identity_distance, report.identity_worst = mean, worst
            report.identity_samples = count
            report.identity_open_eyes = _open_eye_mean(ident.frames, ident.distances, track)
            if count == 0:
                notes.append("identity not measured: dlib described no frame")

    # Audio envelope, aligned to the frames as a player shows them.
    offset = 0.0
    if audio_path is not None:
        samples = _load_audio(Path(audio_path))
        report.audio_source = str(audio_path)
    else:
        samples = _load_audio(video_path)
        report.audio_source = "video" if samples is not None else None
        offset = audio_offset_s(video_path)
    log_rms = None
    if samples is None or samples.size == 0:
        notes.append("no audio: lip sync and speech/pause motion not measured")
    else:
        log_rms = audio_log_rms(samples, SAMPLE_RATE, fps, n, offset_s=offset)
        report.log_rms = log_rms
        r0, lag, rb = lipsync_correlation(track.mouth_open, log_rms, max_lag)
        report.lipsync_r0, report.lipsync_best_lag, report.lipsync_r_best = r0, lag, rb
        report.lipsync_jaw_r0 = lagged_correlation(track.jaw_open, log_rms, 0)
        if not math.isfinite(r0):
            notes.append("lip sync undefined (silent audio, a still mouth or too few frames)")

    # Blinks.
    blinks = detect_blinks(np.stack([track.ear_left, track.ear_right], axis=1), fps)
    report.blink_count = len(blinks)
    report.blink_durations_ms = [round(1000.0 * (e - s) / fps, 1) for s, e in blinks]
    found_minutes = track.found.sum() / fps / 60.0
    if found_minutes > 0:
        report.blinks_per_minute = len(blinks) / found_minutes

    # Head pose and motion while speaking vs in pauses.
    for axis in ("yaw", "pitch", "roll"):
        values = getattr(track, axis)
        if np.isfinite(values).any():
            setattr(report, f"{axis}_mean", float(np.nanmean(values)))
            setattr(report, f"{axis}_std", float(np.nanstd(values)))
    speed = _head_speed(track)
    mask = speech_mask(log_rms, fps) if log_rms is not None else None
    if mask is not None:
        report.speech_fraction = float(mask.mean())
        min_frames = max(3, round(0.5 * fps))
        if mask.sum() >= min_frames and (~mask).sum() >= min_frames:
            report.head_speed_speech = _rms(speed[mask])
            report.head_speed_pause = _rms(speed[~mask])
            if report.head_speed_pause > 0:
                report.head_speech_pause_ratio = report.head_speed_speech / report.head_speed_pause
        else:
            notes.append("too little speech or too few pauses to compare head motion")

    report.landmark_jitter, report.landmark_accel = landmark_jitter(track)
    if lse and samples is not None and samples.size and track.found.any():
        _add_lse(report, video_path, audio_path, track, syncnet_weights, download_weights)

    if meter is not None:
        if meter.skip:
            notes.append(meter.skip)
        elif meter.mad:
            report.background_mad = float(np.mean(meter.mad))
            report.background_worst_mad = float(np.max(meter.mad))
            mse = float(np.mean(meter.mse))
            report.background_psnr = 10.0 * math.log10(255.0**2 / mse) if mse > 0 else math.inf
        else:
            notes.append("background not measured: the face fills the frame")

    _add_container(report, video_path, fps)
    return report


def _open_eye_mean(frames: list[int], distances: list[float], track: FaceTrack) -> float:
    """Mean identity distance over the described frames where neither eye is closing
    (eye aspect ratio at least OPEN_EYE_SHARE of the video's median for that eye)."""
    if not frames:
        return float("nan")
    idx = np.asarray(frames)
    open_ = np.ones(len(idx), bool)
    for ear in (track.ear_left, track.ear_right):
        ear = np.asarray(ear, np.float64)
        ref = np.nanmedian(ear[track.found]) if track.found.any() else np.nan
        if not np.isfinite(ref):
            return float("nan")
        open_ &= np.nan_to_num(ear[idx], nan=0.0) >= OPEN_EYE_SHARE * ref
    d = np.asarray(distances)[open_]
    return float(d.mean()) if d.size else float("nan")


def _identity_meter(
    video_path: Path,
    source: np.ndarray,
    notes: list[str],
    face_near: tuple[float, float] | None = None,
    tracker: str = "mediapipe",
):
    from avatar.eval.identity import IdentityMeter, unavailable_reason

    reason = unavailable_reason()
    if reason:
        notes.append(reason)
        return None
    duration = fps = None
    try:
        from avatar.video.probe import probe_video

        info = probe_video(video_path)
        duration, fps = info.video_duration or info.duration, info.fps
    except (ImportError, AvatarError):
        pass
    # face_near is in video pixels, the photo's own at native size (the usual case).
    return IdentityMeter(source, fps or 25.0, duration, face_near, tracker)


def _add_lse(
    report: EvalReport,
    video_path: Path,
    audio_path: str | Path | None,
    track: FaceTrack,
    weights: str | Path | None,
    download: bool,
) -> None:
    try:
        from avatar.eval import syncnet
    except ImportError as exc:  # torch is an optional dependency (pip install talking-avatar[eval])
        if weights is not None or download:
            raise AvatarError("LSE-D/LSE-C need PyTorch: pip install torch.") from exc
        report.notes.append("LSE-D/LSE-C not measured: PyTorch is not installed")
        return
    path = syncnet.resolve_syncnet_weights(weights, download=download)
    if path is None:
        report.notes.append(
            "LSE-D/LSE-C not measured: no SyncNet weights here (pass --syncnet-weights PATH, "
            "or --lse to download them)"
        )
        return
    result = syncnet.lse(
        video_path, track=track, audio=audio_path, model=syncnet.load_syncnet(path)
    )
    report.notes.extend(f"SyncNet: {n}" for n in result.notes)
    if result.n_windows:
        report.lse_d, report.lse_c, report.lse_offset = result.lse_d, result.lse_c, result.offset


def _add_container(report: EvalReport, video_path: Path, fps: float) -> None:
    try:
        from avatar.video.probe import probe_video

        info = probe_video(video_path)
    except (ImportError, AvatarError) as exc:
        report.notes.append(f"container not probed: {exc}")
        return
    keys = (
        "video_codec",
        "pixel_format",
        "width",
        "height",
        "fps",
        "n_frames",
        "video_duration",
        "audio_codec",
        "audio_sample_rate",
        "audio_duration",
        "duration",
    )
    report.container = {k: getattr(info, k, None) for k in keys}
    if info.video_duration is not None and info.audio_duration is not None:
        report.av_duration_diff_frames = (info.video_duration - info.audio_duration) * fps
