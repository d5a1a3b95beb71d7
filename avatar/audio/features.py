"""Per-frame acoustic features that drive the mouth, the head and the evaluation.

Everything is computed once on a 100 Hz analysis grid (10 ms hops; the rate of
the phone recogniser) and then area-averaged onto the video frames, so that a
video frame ``t`` summarises the audio in ``[t / fps, (t + 1) / fps)`` whatever
the frame rate. The RMS columns are exact per video frame (computed from the
samples of that interval), because lip-sync is judged against them.

All of it is plain vectorised numpy/scipy: ten minutes of audio take about a
second on one core.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import fft as sfft
from scipy import signal

from avatar.audio.speech import Speech

HOP_RATE = 100.0  # Hz: internal analysis rate (10 ms hops)
EPS = 1e-5  # RMS floor: -100 dBFS; ln(EPS) is the log-RMS of digital silence

F0_MIN = 55.0
F0_MAX = 500.0
_YIN_THRESHOLD = 0.2
_YIN_ACCEPT = 0.35
_BLOCK = 4096  # analysis frames per vectorised block (bounds memory on long audio)
_WORKERS = 2  # FFT threads; the target machine has two cores
_LPC_ORDER = 8  # at 8 kHz: four resonances, enough for F1 and F2
N_MELS = 24
SPEECH_RANGE_DB = 40.0  # widest level range mapped onto energy 0..1
NOISE_WINDOW_S = 1.5  # minimum-statistics window of the noise tracker
NOISE_OVERSUBTRACT = 2.0
NOISE_CAP = 0.3  # noise is never taken above -5 dB of the local maximum
N_MFCC = 13


@dataclass
class AudioFeatures:
    """Acoustic features sampled per video frame (or per 10 ms hop in ``hires``).

    Arrays all have length ``n_frames``. ``rms_db`` / ``log_rms`` are exact
    per frame (the lip-sync reference). ``speech_db`` is the level with a
    stationary noise floor subtracted (dBFS), and ``energy`` maps it to 0..1
    between the clip's floor and its loud speech (robust percentiles), so that
    background noise does not count as speech. ``voiced`` is speech activity
    (a VAD with hangover), not periodicity; ``periodicity`` is the YIN voicing
    strength and ``f0`` is 0 where the frame is not periodic. ``speaking`` is
    a smoothed 0..1 version of ``voiced`` that bridges short pauses, for
    gating head motion. ``closure`` is the probability that the lips are
    closed (p/b/m) from a tiny network on cepstra; ``low_frac`` the share of
    power below 1 kHz; ``f1``/``f2`` rough LPC formants (0 where unvoiced).
    """

    fps: float
    rms_db: np.ndarray
    log_rms: np.ndarray
    energy: np.ndarray
    voiced: np.ndarray
    f0: np.ndarray
    pitch_z: np.ndarray
    f1: np.ndarray
    f2: np.ndarray
    centroid: np.ndarray
    speaking: np.ndarray
    periodicity: np.ndarray
    low_frac: np.ndarray
    closure: np.ndarray
    speech_db: np.ndarray
    floor_db: float = -100.0
    peak_db: float = 0.0
    mfcc: np.ndarray | None = None  # (n, N_MFCC) cepstra, 100 Hz analysis only
    hires: AudioFeatures | None = None

    @property
    def n_frames(self) -> int:
        return int(len(self.rms_db))


# --------------------------------------------------------------------------- public


def compute_features(speech: Speech, fps: float, n_frames: int) -> AudioFeatures:
    """Analyse ``speech`` once at 100 Hz and summarise it per video frame.

    The 100 Hz result is kept in ``.hires`` for consumers (the mouth) that
    need finer timing than the video frame rate.
    """
    if fps <= 0:
        raise ValueError("fps must be positive")
    n_frames = int(n_frames)
    x = np.asarray(speech.samples, dtype=np.float32).reshape(-1)
    sr = int(speech.sample_rate)
    if sr != 16000:
        g = np.gcd(sr, 16000)
        x = signal.resample_poly(x, 16000 // g, sr // g).astype(np.float32)
        sr = 16000
    x = np.nan_to_num(x)
    hires = _analyse_hop(x, sr)
    frames = _to_frames(hires, x, sr, fps, n_frames)
    frames.hires = hires
    return frames


def interval_log_rms(
    samples: np.ndarray, sample_rate: int, fps: float, n_frames: int
) -> np.ndarray:
    """ln(RMS + EPS) of each interval ``[t / fps, (t + 1) / fps)``: the lip-sync reference."""
    ms = _interval_mean_square(np.asarray(samples, np.float32), sample_rate, fps, n_frames)
    return np.log(np.sqrt(ms) + EPS)


# --------------------------------------------------------------------------- 100 Hz analysis


def _analyse_hop(x: np.ndarray, sr: int) -> AudioFeatures:
    hop = int(round(sr / HOP_RATE))
    n = max(1, int(np.ceil(len(x) / hop)))
    ms = _interval_mean_square(x, sr, HOP_RATE, n)
    rms = np.sqrt(ms)
    rms_db = 20.0 * np.log10(rms + EPS)
    log_rms = np.log(rms + EPS)
    centroid, low_frac, mfcc, level = _spectral_shape(x, sr, n)
    speech_db = _calibrate_level(level, rms_db)

    floor_db, peak_db = _level_range(speech_db)
    energy = _energy(speech_db, floor_db, peak_db)

    x8 = signal.resample_poly(x, 1, 2).astype(np.float32)  # 8 kHz is plenty for f0 and F1/F2
    f0, periodicity = _yin(x8, 8000, n)
    f0[speech_db < floor_db + 3.0] = 0.0
    periodicity[f0 == 0] = np.minimum(periodicity[f0 == 0], 0.5)
    f0 = _clean_f0(f0)

    active = speech_db > floor_db + 6.0
    f1, f2 = _formants(x8, 8000, n, active & (energy > 0.15) & (f0 > 0))

    voiced = _vad(speech_db, floor_db, peak_db, f0 > 0)
    speaking = _speaking(voiced, HOP_RATE)
    pitch_z = _pitch_z(f0, f0)
    closure = closure_probability(mfcc, rms_db, float(np.percentile(rms_db, 98)), periodicity)
    return AudioFeatures(
        fps=HOP_RATE,
        rms_db=rms_db.astype(np.float32),
        log_rms=log_rms.astype(np.float32),
        energy=energy.astype(np.float32),
        voiced=voiced,
        f0=f0.astype(np.float32),
        pitch_z=pitch_z.astype(np.float32),
        speech_db=speech_db.astype(np.float32),
        f1=f1.astype(np.float32),
        f2=f2.astype(np.float32),
        centroid=centroid.astype(np.float32),
        speaking=speaking.astype(np.float32),
        periodicity=periodicity.astype(np.float32),
        low_frac=low_frac.astype(np.float32),
        closure=closure.astype(np.float32),
        floor_db=float(floor_db),
        peak_db=float(peak_db),
        mfcc=mfcc,
    )


def _interval_mean_square(x: np.ndarray, sr: int, rate: float, n: int) -> np.ndarray:
    """Exact mean of x² over each ``[t / rate, (t + 1) / rate)``; 0 past the end of the audio."""
    cs = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    edges = np.rint(np.arange(n + 1) * (sr / rate)).astype(np.int64)
    edges = np.clip(edges, 0, len(x))
    num = cs[edges[1:]] - cs[edges[:-1]]
    width = np.rint(np.arange(1, n + 1) * (sr / rate)) - np.rint(np.arange(n) * (sr / rate))
    return num / np.maximum(width, 1.0)


def _calibrate_level(level: np.ndarray, rms_db: np.ndarray) -> np.ndarray:
    """Noise-subtracted level in dBFS: matched to the RMS on the loudest tenth of the hops."""
    if level.size == 0:
        return level
    loud = rms_db >= np.percentile(rms_db, 90)
    offset = float(np.median(rms_db[loud] - level[loud]))
    return np.maximum(level + offset, 20.0 * np.log10(EPS))


def _level_range(rms_db: np.ndarray) -> tuple[float, float]:
    """Noise floor and loud-speech level (dBFS) from robust percentiles."""
    if rms_db.size == 0:
        return -100.0, -20.0
    # Speech is loudness-normalised (about -15 dBFS peaks): nothing under -60 dBFS is loud,
    # so a silent clip keeps a silent range instead of stretching its noise to 0..1.
    peak = max(float(np.percentile(rms_db, 98)), -60.0)
    low = float(np.percentile(rms_db, 5))
    floor = float(np.clip(low, peak - SPEECH_RANGE_DB, peak - 15.0))
    return floor, peak


def _energy(rms_db: np.ndarray, floor_db: float, peak_db: float) -> np.ndarray:
    return np.clip((rms_db - floor_db) / max(peak_db - floor_db, 1e-3), 0.0, 1.0)


def _frames(x: np.ndarray, n: int, length: int, hop: int, offset: int) -> np.ndarray:
    """(n, length) view of windows starting at ``k * hop + offset`` (zero padding outside)."""
    pad_l = max(0, -offset)
    need = (n - 1) * hop + offset + length
    pad_r = max(0, need - len(x))
    xp = np.pad(x, (pad_l, pad_r))
    start = offset + pad_l
    view = np.lib.stride_tricks.sliding_window_view(xp, length)
    return view[start : start + (n - 1) * hop + 1 : hop]


def _yin(x: np.ndarray, sr: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised YIN (cumulative mean normalised difference) on 10 ms hops."""
    hop = sr // 100
    w = int(0.025 * sr)  # integration window
    max_lag = int(np.ceil(sr / F0_MIN))
    min_lag = int(np.floor(sr / F0_MAX))
    seg_len = w + max_lag + 1
    nfft = sfft.next_fast_len(w + seg_len, real=True)
    centre = hop // 2
    f0 = np.zeros(n, np.float64)
    per = np.zeros(n, np.float64)
    lags = np.arange(max_lag + 1)
    allseg = _frames(x, n, seg_len, hop, centre - seg_len // 2)
    for b0 in range(0, n, _BLOCK):
        b1 = min(n, b0 + _BLOCK)
        seg = allseg[b0:b1].astype(np.float32)
        seg = seg - seg.mean(axis=1, keepdims=True)
        spec = sfft.rfft(seg, nfft, axis=1, workers=_WORKERS)
        win = sfft.rfft(seg[:, :w], nfft, axis=1, workers=_WORKERS)
        r = sfft.irfft(np.conj(win) * spec, nfft, axis=1, workers=_WORKERS)[:, : max_lag + 1]
        cs = np.concatenate([np.zeros((b1 - b0, 1), np.float32), np.cumsum(seg**2, axis=1)], 1)
        e0 = cs[:, w : w + 1]
        et = cs[:, lags + w] - cs[:, lags]
        d = np.maximum(e0 + et - 2.0 * r, 0.0)
        cum = np.cumsum(d[:, 1:], axis=1)
        dn = np.ones_like(d)
        dn[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
        sub = dn[:, min_lag : max_lag + 1]
        loc = np.zeros_like(sub, dtype=bool)
        loc[:, 1:-1] = (sub[:, 1:-1] <= sub[:, :-2]) & (sub[:, 1:-1] <= sub[:, 2:])
        ok = loc & (sub < _YIN_THRESHOLD)
        has = ok.any(axis=1)
        first = np.where(has, ok.argmax(axis=1), sub.argmin(axis=1))
        val = sub[np.arange(len(sub)), first]
        voiced = has | (val < _YIN_ACCEPT)
        # parabolic interpolation of the dip
        i = np.clip(first, 1, sub.shape[1] - 2)
        rows = np.arange(len(sub))
        a, bb, c = sub[rows, i - 1], sub[rows, i], sub[rows, i + 1]
        den = a - 2 * bb + c
        delta = np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
        delta = np.clip(delta, -1.0, 1.0)
        lag = min_lag + i + delta
        f0[b0:b1] = np.where(voiced, sr / lag, 0.0)
        per[b0:b1] = np.clip(1.0 - val, 0.0, 1.0)
    f0[(f0 < F0_MIN) | (f0 > F0_MAX)] = 0.0
    return f0, per


def _clean_f0(f0: np.ndarray) -> np.ndarray:
    """Drop voiced islands shorter than 30 ms and fix octave jumps with a median."""
    v = f0 > 0
    out = f0.copy()
    for s, e in _runs(v):
        if e - s < 3:
            out[s:e] = 0.0
    v = out > 0
    if v.sum() >= 3:
        med = signal.medfilt(np.where(v, out, 0.0), 5)
        ratio = np.where(v & (med > 0), out / np.where(med > 0, med, 1.0), 1.0)
        jump = v & (med > 0) & ((ratio > 1.7) | (ratio < 0.6))
        out[jump] = med[jump]
    return out


def _formants(x: np.ndarray, sr: int, n: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rough F1/F2 (Hz) from LPC roots on frames in ``mask``; 0 elsewhere."""
    f1 = np.zeros(n)
    f2 = np.zeros(n)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return f1, f2
    order = _LPC_ORDER
    hop = sr // 100
    w = int(0.025 * sr)
    xe = np.append(x[0], x[1:] - 0.9 * x[:-1]).astype(np.float32)
    win = np.hamming(w).astype(np.float32)
    nfft = sfft.next_fast_len(2 * w, real=True)
    allf = _frames(xe, n, w, hop, hop // 2 - w // 2)
    for b0 in range(0, idx.size, _BLOCK):
        ii = idx[b0 : b0 + _BLOCK]
        fr = allf[ii] * win
        spec = sfft.rfft(fr, nfft, axis=1, workers=_WORKERS)
        p = spec.real**2 + spec.imag**2
        ac = sfft.irfft(p, nfft, axis=1, workers=_WORKERS)[:, : order + 1].astype(np.float64)
        ac[:, 0] *= 1.0 + 1e-6
        ac[:, 0] += 1e-12
        a = _levinson(ac, order)
        comp = np.zeros((len(ii), order, order))
        comp[:, 0, :] = -a[:, 1:]
        comp[:, np.arange(1, order), np.arange(order - 1)] = 1.0
        roots = np.linalg.eigvals(comp)
        freq = np.abs(np.angle(roots)) * sr / (2 * np.pi)
        bw = -np.log(np.maximum(np.abs(roots), 1e-9)) * sr / np.pi
        good = (roots.imag > 0) & (freq > 150) & (freq < sr / 2 - 150) & (bw < 600)
        fq = np.where(good, freq, np.inf)
        fq.sort(axis=1)
        c1 = fq[:, 0]
        c2 = fq[:, 1]
        ok1 = np.isfinite(c1) & (c1 < 1200)
        f1[ii] = np.where(ok1, c1, 0.0)
        f2[ii] = np.where(ok1 & np.isfinite(c2) & (c2 < 3500), c2, 0.0)
    return f1, f2


def _levinson(r: np.ndarray, order: int) -> np.ndarray:
    """Levinson–Durbin over rows of autocorrelations; returns (N, order+1) with a[:, 0] = 1."""
    n = r.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("ij,ij->i", a[:, 1:i], r[:, i - 1 : 0 : -1])
        k = -acc / np.maximum(err, 1e-12)
        prev = a[:, 1:i].copy()
        a[:, 1:i] = prev + k[:, None] * prev[:, ::-1]
        a[:, i] = k
        err = err * np.maximum(1.0 - k * k, 1e-6)
    return a


def _mel_matrix(sr: int, nfft: int, n_mels: int, fmin: float = 100.0, fmax: float = 7000.0):
    """Triangular mel filterbank (n_fft_bins, n_mels)."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    pts = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    fb = np.zeros((freqs.size, n_mels), np.float32)
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[:, m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb


def _noise_floor(mel: np.ndarray) -> np.ndarray:
    """Per-band noise power by minimum statistics over ``NOISE_WINDOW_S`` (tracks slow changes).

    Capped at ``NOISE_CAP`` of the local maximum, so a steady sound (a held
    vowel, a tone) is not taken for noise and removed.
    """
    if mel.shape[0] < 10:
        return np.zeros_like(mel)
    from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

    size = int(NOISE_WINDOW_S * HOP_RATE)
    sm = uniform_filter1d(mel, 5, axis=0, mode="nearest")
    low = minimum_filter1d(sm, size, axis=0, mode="nearest")
    high = maximum_filter1d(sm, size, axis=0, mode="nearest")
    return np.minimum(low, NOISE_CAP * high)


def _spectral_shape(
    x: np.ndarray, sr: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid (Hz), fraction of power below 1 kHz, MFCCs and the
    noise-floor-subtracted level (dB, uncalibrated), per hop."""
    hop = sr // 100
    w = int(0.025 * sr)
    nfft = 512
    win = np.hanning(w).astype(np.float32)
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    low = freqs < 1000.0
    fb = _mel_matrix(sr, nfft, N_MELS)
    dct = np.cos(np.pi / N_MELS * (np.arange(N_MELS)[None, :] + 0.5) * np.arange(N_MFCC)[:, None])
    dct = (dct * np.sqrt(2.0 / N_MELS)).astype(np.float32).T
    cen = np.zeros(n)
    lowf = np.zeros(n)
    mel = np.zeros((n, N_MELS), np.float32)
    allf = _frames(x, n, w, hop, hop // 2 - w // 2)
    for b0 in range(0, n, _BLOCK):
        b1 = min(n, b0 + _BLOCK)
        fr = allf[b0:b1] * win
        sp = sfft.rfft(fr, nfft, axis=1, workers=_WORKERS)
        p = sp.real**2 + sp.imag**2
        tot = p.sum(axis=1) + 1e-12
        cen[b0:b1] = (p @ freqs) / tot
        lowf[b0:b1] = p[:, low].sum(axis=1) / tot
        mel[b0:b1] = p @ fb
    # Spectral subtraction of a stationary noise floor (10th percentile per band), so that
    # closures and pauses look alike in clean and noisy recordings.
    noise = _noise_floor(mel)
    above = np.maximum(mel - NOISE_OVERSUBTRACT * noise, 0.0)
    mfcc = (np.log(np.maximum(above, 0.03 * mel) + 1e-9) @ dct).astype(np.float32)
    level = 10.0 * np.log10(above.sum(axis=1) + 1e-12)
    return cen, lowf, mfcc, level


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each True run."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(d[0::2].tolist(), d[1::2].tolist()))


def _vad(rms_db: np.ndarray, floor_db: float, peak_db: float, periodic: np.ndarray) -> np.ndarray:
    """Energy + periodicity speech activity with 150 ms hangover, on 10 ms hops."""
    span = max(peak_db - floor_db, 1.0)
    thr = floor_db + max(6.0, 0.3 * span)
    smooth = np.convolve(rms_db, np.ones(5) / 5.0, mode="same") if rms_db.size >= 5 else rms_db
    act = (smooth > thr) | (periodic & (rms_db > floor_db + max(4.0, 0.2 * span)))
    act = act.copy()
    for s, e in _runs(act):  # drop clicks
        if e - s < 6:
            act[s:e] = False
    gaps = _runs(~act)
    for s, e in gaps:  # bridge short gaps (stop closures)
        if 0 < s and e < len(act) and e - s < 20:
            act[s:e] = True
    out = act.copy()
    for s, e in _runs(act):  # hangover: 50 ms before, 150 ms after
        out[max(0, s - 5) : min(len(act), e + 15)] = True
    return out


def _speaking(voiced: np.ndarray, rate: float) -> np.ndarray:
    """0..1 envelope that bridges pauses under 0.5 s and eases in and out over ~0.25 s."""
    act = voiced.copy()
    gap = int(0.5 * rate)
    for s, e in _runs(~act):
        if 0 < s and e < len(act) and e - s < gap:
            act[s:e] = True
    k = max(1, int(0.25 * rate))
    ker = np.hanning(k + 2)[1:-1]
    ker /= ker.sum()
    return np.clip(np.convolve(act.astype(np.float64), ker, mode="same"), 0.0, 1.0)


def _pitch_z(f0: np.ndarray, ref_f0: np.ndarray) -> np.ndarray:
    """Semitones z-scored over the voiced frames of ``ref_f0``; 0 when unvoiced."""
    ref = ref_f0[ref_f0 > 0]
    out = np.zeros(len(f0))
    if ref.size < 3:
        return out
    st_ref = 12.0 * np.log2(ref / 100.0)
    mu = float(np.median(st_ref))
    sd = float(np.std(st_ref))
    sd = max(sd, 0.5)
    v = f0 > 0
    out[v] = (12.0 * np.log2(f0[v] / 100.0) - mu) / sd
    return np.clip(out, -4.0, 4.0)


# --------------------------------------------------------------------------- to video frames


def _area_matrix_edges(n_src: int, src_rate: float, fps: float, n_frames: int) -> np.ndarray:
    """Edges of each video frame on the source grid, in source-frame units."""
    return np.arange(n_frames + 1) * (src_rate / fps)


def area_average(values: np.ndarray, src_rate: float, fps: float, n_frames: int) -> np.ndarray:
    """Average a piecewise-constant track at ``src_rate`` over each video frame interval.

    Frames shorter than one source step get the value under them (linear in the
    cumulative sum), so short events are never skipped at any frame rate.
    """
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return np.zeros(n_frames)
    cs = np.concatenate([[0.0], np.cumsum(v)])
    edges = _area_matrix_edges(v.size, src_rate, fps, n_frames)
    grid = np.arange(v.size + 1, dtype=np.float64)
    # extend past the end by holding the last value
    ce = np.interp(edges, grid, cs, right=np.nan)
    over = np.isnan(ce)
    ce[over] = cs[-1] + (edges[over] - v.size) * v[-1]
    width = np.diff(edges)
    return np.diff(ce) / np.maximum(width, 1e-12)


def _to_frames(
    h: AudioFeatures, x: np.ndarray, sr: int, fps: float, n_frames: int
) -> AudioFeatures:
    ms = _interval_mean_square(x, sr, fps, n_frames)
    rms = np.sqrt(ms)
    rms_db = 20.0 * np.log10(rms + EPS)
    log_rms = np.log(rms + EPS)

    def avg(v: np.ndarray) -> np.ndarray:
        return area_average(v, HOP_RATE, fps, n_frames)

    speech_db = 10.0 * np.log10(avg(10.0 ** (h.speech_db.astype(np.float64) / 10.0)) + 1e-12)
    energy = _energy(speech_db, h.floor_db, h.peak_db)

    vf = (h.f0 > 0).astype(np.float64)
    den = avg(vf)
    f0 = np.where(den >= 0.5, avg(h.f0 * vf) / np.maximum(den, 1e-9), 0.0)
    fm = (h.f1 > 0).astype(np.float64)
    fden = avg(fm)
    f1 = np.where(fden >= 0.5, avg(h.f1 * fm) / np.maximum(fden, 1e-9), 0.0)
    fm2 = (h.f2 > 0).astype(np.float64)
    fden2 = avg(fm2)
    f2 = np.where(fden2 >= 0.5, avg(h.f2 * fm2) / np.maximum(fden2, 1e-9), 0.0)
    voiced = avg(h.voiced.astype(np.float64)) >= 0.5
    return AudioFeatures(
        fps=float(fps),
        rms_db=rms_db.astype(np.float32),
        log_rms=log_rms.astype(np.float32),
        energy=energy.astype(np.float32),
        voiced=voiced,
        f0=f0.astype(np.float32),
        pitch_z=_pitch_z(f0, h.f0).astype(np.float32),
        f1=f1.astype(np.float32),
        f2=f2.astype(np.float32),
        centroid=avg(h.centroid).astype(np.float32),
        speaking=np.clip(avg(h.speaking), 0, 1).astype(np.float32),
        periodicity=avg(h.periodicity).astype(np.float32),
        low_frac=avg(h.low_frac).astype(np.float32),
        closure=avg(h.closure).astype(np.float32),
        speech_db=speech_db.astype(np.float32),
        floor_db=h.floor_db,
        peak_db=h.peak_db,
    )


def slice_features(feats: AudioFeatures, start: int, stop: int) -> AudioFeatures:
    """Frames ``start:stop`` of every per-frame array (``hires`` is dropped)."""
    kw = {}
    for f in fields(feats):
        v = getattr(feats, f.name)
        kw[f.name] = v[start:stop] if isinstance(v, np.ndarray) else v
    kw["hires"] = None
    return replace(feats, **kw)


# --------------------------------------------------------------------------- lip closure

# Context frames (10 ms hops) stacked as the closure network's input.
_CLOSURE_OFFSETS = np.array([-12, -8, -4, -2, 0, 2, 4, 8, 12])
_CLOSURE_HIDDEN = 32
_closure_net: tuple[np.ndarray, ...] | None = None


def _closure_weights() -> tuple[np.ndarray, ...]:
    global _closure_net
    if _closure_net is None:
        flat = np.frombuffer(base64.b64decode("".join(_CLOSURE_NET_B64)), "<f2").astype(np.float64)
        d = len(_CLOSURE_OFFSETS) * (N_MFCC + 2)
        h = _CLOSURE_HIDDEN
        w1 = flat[: h * d].reshape(h, d)
        b1 = flat[h * d : h * d + h]
        w2 = flat[h * d + h : h * d + 2 * h]
        b2 = flat[h * d + 2 * h]
        _closure_net = (w1, b1, w2, b2)
    return _closure_net


def closure_features(
    mfcc: np.ndarray, rms_db: np.ndarray, peak_db: float, periodicity: np.ndarray
) -> np.ndarray:
    """Per-hop input of the closure network: normalised cepstra, level and voicing, ±120 ms."""
    m = np.asarray(mfcc, np.float64).copy()
    db = np.asarray(rms_db, np.float64)
    n = len(m)
    if n == 0:
        return np.zeros((0, len(_CLOSURE_OFFSETS) * (N_MFCC + 2)))
    act = db > peak_db - 40.0
    if act.sum() < 5:
        act[:] = True
    m[:, 1:] -= m[act, 1:].mean(axis=0)
    m[:, 0] -= np.percentile(m[:, 0], 98)
    scale = np.array([10.0] + [3.0] * (N_MFCC - 1))
    base = np.concatenate(
        [m / scale, ((db - peak_db) / 20.0)[:, None], np.asarray(periodicity, np.float64)[:, None]],
        axis=1,
    )
    idx = np.clip(np.arange(n)[:, None] + _CLOSURE_OFFSETS[None, :], 0, n - 1)
    return base[idx].reshape(n, -1)


def closure_probability(
    mfcc: np.ndarray, rms_db: np.ndarray, peak_db: float, periodicity: np.ndarray
) -> np.ndarray:
    """P(lips closed) per 10 ms hop.

    Phone recognition alone finds under half of the p/b/m in real speech (they
    come out as d, t, n or silence), so the mouth also asks this detector: a
    135-32-1 tanh network over ±120 ms of noise-floor-subtracted cepstra. It
    was trained on frames labelled by forced alignment (GRID videos_train, LJ
    Speech and JFK clips of shared/data) and by espeak-ng phoneme events (80
    sentences, 10 voices, 3 rates), half of them with added white, pink, brown
    or babble noise at 0-20 dB SNR. Frame AUC on held-out GRID speakers: 0.95.
    """
    x = closure_features(mfcc, rms_db, peak_db, periodicity)
    if x.shape[0] == 0:
        return np.zeros(0)
    w1, b1, w2, b2 = _closure_weights()
    z = np.tanh(x @ w1.T + b1) @ w2 + b2
    return 1.0 / (1.0 + np.exp(-z))


# float16 weights of the closure network: W1 (32, 135), b1 (32), W2 (32), b2 (1).
_CLOSURE_NET_B64 = (
    "BDDaHu4sjC7LLAMyTC9MMFymjq3WLgctMq4HKoap06qUKLkq2S29IfIwFy+IIaMskS2bqMesOi+fsh805S6OLp2qhq2P"
    "LgWyOqZmq4Sq3LSZrnwysLAarFG0bbXmrg2wvR54rbAtCZ4NoR8w3Sy8MOCzrzTzMoKvzivMnrSpyCoYMFW0lLSeMMav"
    "LygvrLqv9TS/tHS1sjDtLwixXbJ1IYy1hinTtbCuDSoyqks1LSfcrHasQK9Solsur55btcguoypZLYkypyWdMl6pJK/j"
    "MBwyE6iPrysrKSxipH0rD5p/suWpdS5nJhEwXSzhMyA4bKnkrhYbXaYeJ+2tEy30LBQymy29LpymBKhpLlE1ZKx8Juml"
    "JK32Ir2oep0FHu8qXauwlLIRrLHFsIQlbbG3JCinHyk8JWwpAaUDLGimgjAAqC4oEakNrDOu16g1q+sqvCUWpf4thC48"
    "Ejumai5ep6QnvK8hLR4kBKlaND8xa6ohLzWwX7VLs3Mvza/4r+QyXbANqkgoJageN3Yyj6xbNJiwBLeBrNYzf6/BEzo1"
    "crMNsaMzY6BmMEowWq23rQ6qdKSbsQQxqK0kKHgnMyniK4czeSVYoUMwyw/trQCoXC9utHYuRatCLg+yMTT0KskxbajE"
    "qCav9CxvpGewKyjWjYArkir7r7qXgSCWJWgvjCYJkqkmZqhdJGIoXiJjLrEqGKf+K+KofqzYr9kyUqi2osSqyqBELV+p"
    "6C0MLU+1BS0SLkOpY6TgpmIwM6eapLwuuCyJMRIoSi2qMNers6fnMBQxjTACDmAkyC3wJT8zCKursEUjxbArlfYzhSqr"
    "KbQvqaxlryAs/S3KMVatrLEBLJSsTK8ALGAoizCKsAKutQgILrKrOarFrDEyhDDCr04wcDKeNPo1vzDIJEavJCFYITws"
    "yCzDMSgrNq97M90v8jTFMCm2JbRZHQgzu6wUL9eqQ6iCsHSyNDFjqpU4ezJ1NB80M7VxLomt5bYRLk+tJiw9K4arEDJC"
    "tLk2YrPNKLixXB2Kr6ktvqwTKwGuYTP0raiyNi5ns0ukxi0nrRUtEbAIrn+sETNCsYezcSSzKXOo/ChfLSgruqQ4pXgo"
    "/y8DqZ8tK6+DqO+sdCyJp3IpViopGtYur6kqJumpcTAAHDskoahOsJ2mqCx2Ii8vE6sUpWcpTq94K0iZNCyxpx6o7qsa"
    "qSgu+yn1JlaY7ydTmOyplqmyoFklTi9RsYwh8KwgqTkwaCPIKmutkCtAn6SutDAzqN6REC8qISilnDErrPOw1C2wrsyy"
    "OS4HshEpYDIOrISiFi6mMn6g6DJWsD63si9JtzCvl64LtEWsKTCdK0i1Civ8McawTDHXrKq55jE6tDEsibBrrEazea1N"
    "sNGw8KkorFkhRamYMVy2oCJurZMpna7Dq8mj2qKbI3osDSSeLsapCaPmrROv3K/op/gpPaz9I2Cqv6I/rSUrdayoMMcl"
    "ASsPrNaXPTFHJqiiSSW1rc2ww6x/K2wuRyyGINsw8SruLeUzHi1mLGwsCyC5JPcxszGHp0UnlDB3sEOq5JcdLBA3IbD/"
    "oK0pNycTmOY0ozWtLMcrjrFEMZAl7xz4MkYsJbiRsBspSDJRtQMyXKcZJ3CrGCvGMCCwFaqVNYc2EjFwJp60kjIQNCep"
    "hbCFMHe1zykQrkGw7DIUrbKuxC5uLJqowKUOq6Wt4C+DroIzAal9pXQtxax8sCCpSiWmqgMw6K0csSosEiOhshkjlK3g"
    "L8wcEbDZJAY2SKFPpfQgnahLLhmpzrBBqIyp0JhkLWOrU61grBYwByziqiqweZ6hI3CrlSVLLxopASxarT+nLq45NC0q"
    "S6EjICGsaqSMqCEvWSkkMrAoqxZrLj+0xCKDMVQxljdsKLUpVTOHNDk0tTE4q0+sxK2nLqQkw6bYNn036iZqqearUyXE"
    "rCs1BzIqp8Mkm6tBL5MqgK4GGOYunavQrDUv4iTfrMI0ljDxLwGrVbGMKk+o9zCjrKwyRaAuJTanhi+6rYetcKsnp8K0"
    "PLFnqDYsODR1rO4wOjQmNAW2qq1rMjiwyaxZMnSg+qzhs1UgNTB6tIW01K8fLY8vM7LwrtKigKh5LE8wb66+L7yndKs+"
    "ONAyl6qRraGs6ioTr2gp4amfrvUve6yXIOuXjCGsKIW0i6p3qPOTfaFCLjEtDizxMAAiSDD5LmWhrDMcL5szC6tEMG0s"
    "lKhpMlYyAy0RMMYemCvrMe+l6yTTr0ahdLC9L6okbKRdMEcwuTGlLCmpRyYiMY6QAaQWMcatXLBRr1arzysmrZOtuSgB"
    "sGcz6i1OqRoruauHmNYkZqVILnQcqashLtml/CY5pjEkiq3LsFYpuKgTLKiypSyDKdMmuS0IrsEfTqi8sHIt3i6qrgKK"
    "cbGTLFW3AjS+rTIw3jAfsW8p36witqsuZ69sMF6zVrJFrBEtmDBvK40l8zMWtOyj/bBQrO0sDzV9q3iwXCyYKJE1jatG"
    "MlyydS6sg0Ipha6vK6csUSs+rYYs/ivrKiktXKGopjCw8CvzLT0m3aj6qhw2MKzuKHuxXq/YNguwoLbCLNKvjSgCs4Yz"
    "Gy2GKBui9aVfLiClIJ4KIJCw2a4iLuEt1bBoMYixUauYL4euwbEWqVmxDKq6tcu1NzW9L66ptrH2LImoqa1sJWEyKCAo"
    "KoasFSsfrSi2hjSHscAwXLDnrSKmri6bMVg0Ax4kFQeonC8irtiyiCiEL80yobAYLT6yJStZLIWsrTQfrnUslKCmIhie"
    "HKRCNCqvLTFHrUyfcK3ErPMwhjLcrC+n4a4CMfEwnqzJshayGqo0sPExm63xo2mlUS6VqB4qnqq7rGyos7DYrLow26wI"
    "rm4keCuIIBOYDzA5sfOwTi6YtJ6xhyQBsBYq5SXEsYuxBCy7tCatohlqtJGtJarnKE6wdzDnswInAiYRtUws2y1RtOIs"
    "MCjNrZ6sibJ+oNaXpi/EMAkxMjZ9LO0sf6oUr++t/6jPrCw0eLJFqiszFDDQsEcqPjI7LuWk0ildMNysBTTgr0Sv3KWB"
    "L7clYayDqwgt9LM+lEyu+iuWMegxrCWTsfGf858sLfytobhxtKypWbP8tMyVZK67IbmrcTETL0mofqoYsCika7QsM+iw"
    "ZC/MMFMlKaSGKQ6q3ioaLsUpZywmtmWzwbD+MOuvJS2nMBmtFagKLJ+wOyjoJrKmDq4bsnu2eybOLGgmwyNFqRkwUC0o"
    "LuGsjCc6K4AlujJ9Ik+0RafwmoIo4SLBLQ6oQS1WLQ0sEqYjLQmpESUKmbKyRi8FK4ArwiV0MCopyiwOKmwqcyc7L6cq"
    "tyqdqfktrLUXsAyxaio+sjsxz6izGqkvjSvBMG6tizFJJ7kmFbWGLkEsIq6fK7+uGaytLOS0J6/wnhIpWykNssYoFDZn"
    "L5SvlhzXLpaxMaqTIAKt16mNrUwvNa+rsYy14TXsrnmuBiy/rZwsGC+OnSAxmrOJLswteKqZKW8pfLBBMxA0Jh+8ItMr"
    "Ry+dsQ2wKS6YsDObWKhoNI834a8aNEerBzVkr0o0eiQrrS80VaxKLNioC6uiHB8yyKzirHAgTqmAKPOWw5mSL2quHC3X"
    "sEmkn6h4sOiyxKd1K9ux5aofLWmsDTGmKLUqSLEgssisEzLWLver66dHMU6wYrVYsfUwKzVfNPYzZLZ2J/ytvC+5MNay"
    "ly3CNHCodLh9I0QyQC4gMMywFLcpMIqtLDBXL9CxS6vsK0aoa64arbQwla9xLCQwP7M+LieuCSfEMMOvhaUIKV4pDa6j"
    "rrWk+bCRLdOvqLQ2Hwovcq7BLi6wnCEVICiwIqyvKU+uWhSsMV2taiayMJkzXyqIqYkpuCU3q84YVK8GrP2r4KysMiKy"
    "3qkQKBUtb7FoqKYsjSuTrO+oPiadK78kyzGlr6W1UzAHJOku8aKEsPYzTxgXJkAskSybLRyrUSjWqCOruy44Magt2Kqa"
    "rTUwmDMWG1ooYyDrqqmUt7BSoVujFyzKrcaWrCjQNBMv0jIVL3Yr+CneKvgxzDShKxmvbCyHMKUkfK2OLiww761QqnUv"
    "PjEZI504rTQUMnwl9bCeNrcmVTQ+KpS0iycfptAoMjQwL1mo0avkptyrKbQoss0x8TH+stOwQixrK3evUTAGrHaynbCD"
    "sG6oMzTqsRocnzAvrkiyFClDLgYZuK0NrXqwsJZgHnYz7y6tqXudFi+QLmu0lKyALOQpgLT7r0KzmC2xqBYwdSwvMk4x"
    "khj6MtWzQy0kKBuupyK0MGSmEC/hM8shVS8dLNulabMgqTC0ESkRq0srXi2UsM80Hyx7L80uGCMrpm6yQCKBtNCvRCWO"
    "JJGnVSBVq7wmeCrRJzoyU6xOIWMs9Sg4sFSzoqPxJWypvSWTLX4sVjAYrW+xJTIELpKpK6VcLJalxCh6Kw8qxi+7pJij"
    "gp1xLNaXSaaGrjcj+aBmnMawBSNTqIcnu6kxpR6uz61zpTYsTqJwrQquCzFCMKKxban2Kwuot6Z7rX+aObENra2fhSuM"
    "pqCr4yUArCyxTyqhMNCvXCyCMyawHKdjMjawz6NwqskyIDB1srq3bzjDImqfFDAkMSG0mTMas4+tyyyJKx8sUq1Ytyq4"
    "siR8HLY0GqlXsf8xobE/tKAqhjEeMbItHapDObw5PbfNsHm0/q13q+K0gqjErmKwwTDesVktXi0BpOytViZOl6kn/6bo"
    "JIQnziXOKbOp9J8SLAQlnyTxJb8kj6QpngatIhiNq7yrtKhbIOcpe6uerRGlYakpMEYzwa6erIwtNB7kqyCnvaOVq0Sb"
    "fSt8lo4qH5pPsdCgRDOII0+uWKltLUayMq5LsWiwC6utsu0t1qo6qhsvjx7opf6o3a5TrzAwzivWKQM0hbOOMXGoZ6SZ"
    "huku67oiKQgx1yTOshQ08CcKLd2qAjHhKYiwkxRKGLI2jDpnLk2w4SxQNr2uGSaSHWKyBSZUqEkyjSvatJe1sbWTrOAu"
    "EKwxsd4w0y00KV80TqbJLGayWa2EMEs39DCnIJCmcijfLFKvXBxvE+aozi30JI8seS5EtHCsWK6QoCEaX69jri8mgKuA"
    "I8araywKrIYdN7BxG8Us+CgcK20rf61NKxgs2agCL/UqARJfKmCuG69CsPWshydwMVunOqctMIaqVDDhMzwsJBrMrvMw"
    "WydpMDyx7y3fMt0oSCT8MSEkizE4M+U0CK8tsFUt06MfJdOxszDUJcsxca9lLHEv9aqKMFYvhK2UpqWoFqrXKZou/DDT"
    "s3c0W6rdLVmhMyz1MEooSywzK4UqIB+vrJWti7QSuNAtzrA3NNskLyIYMHSuqjINLKEdp6w5tTUsozP0sVy0gK5gMcUq"
    "wSvxM1eo3jAxr6ExERzhrZy3RbaJjgcq0LC0sg0gQrBrp+0rfrGkLJOtVyQ+NXm0w7BRMO+tqSiDMImuJS2tqjWajyUG"
    "r8csAa7ZLfg17SCTpSOqTqzwLKklWSIxKlGslyo+oHwsN57pJfIxAahYMEsxKKMjLgml0ajOLHytWDBrrsUsAS0QLmMv"
    "PiFZNdyZBa+EJyO0vimsLRSnZTLrstskei+hL9ws5y2lNkK377Fnthqv0x26Ld0uEaoSsDywhzSUMeY1S6AGnROzXS2t"
    "q60eoKT/pDUwZC+ZLAUuDzRUJKk0lienJNgsfxzRLAGs9qcfrhGnVDHELTszCC4kr+U0i6hGKCgVk6XJqPmwHSM+L94u"
    "VKxcsPCqFagaMJgxdKgFov4vhKXnLpamsq9UIzOwVrEoNSCoKSD5rJsw+aKqqm+gpKnULEOskymVo2GlPCV7q/orDiN2"
    "KGMrOJDwKISlJJpFK4Elri25JfWkxi0CnZ6mYK+ZpVawODHpq8sXJi0jG1md8C67KNsxVKy0M5moAi9zp4C3sDW9Jky0"
    "erd5JTOmwKxwpgy2grUaMx4p1zEZMOe0QDc+Mw61CrdjMkQZwrFisn2vA7Q+Mo0pgDDQNU0yGzSbLimdaLFjII2rN6lV"
    "rv6yNK0ELtsxQi0wtFm2C6uDqjwo1SfQr0SlnqVmsI6sF6sItDqv+7CypeQzIio2HYup+CMZqkCnOSXgqmAmKKmho+6u"
    "AapCqskp7CSRpi+tBiiorLOg8qmcLT+tzx+gKVUiZarjFfstXKP6qdKnLi1GLSYtGixcMM+rayHupYmxBq1ntPUf1q7J"
    "JocqIqWyLH+q/KbYrNuVmbEVqd0pcKr6saQxsaTEML2gtaxgsj602LXXsoSsNKPRtI+uU7H5ot0sLqsSt+6y+aHGtFO5"
    "6bbTt5Qwt6R6tJq0KrOnMDwySrjzs12x47YstHK2mbJks2SymLHfsD+lZ7AysLEwUaGGLUsu1il1McOoLZgPJRGsjrHY"
    "pxywRib1rREsxi07JwKj6ax2MPqqly69l5ig2S+VJbglBaqPsucn1aByIgqhBywlq+ypBDAurAYodKLonCCqGasosiw0"
    "Oiz1HSmnmSzlK9Irm6rPntOqFSTjqWss0SWIsm4x4yhtHyiinp2LJLAdwiEhJewuBRt9sLAn4qgvqoCh9yMDKMon1Cjm"
    "JnmhXSZCpUytrS0RroQrMKgYK30syiN3rGEpRqzlrR6xIKoMnx41+i8fM+WwRa0/MV85b62UsWkzKC/rs0gvD6rrKEwx"
    "VjQ5L9yhxDByNAwXqbtiLCywn6JQJ3kuGBcoLRi4bC3HsawwOq4zpVI5DCl9rcWxYDHqNC0yGzUVNIM1Xig4qDOvSqzG"
    "tYSuVikHIZss3LGxMVysJzNCNiujuCHPMUKi/i5UuCC3w6/sKZAqzaCtobssWK7sqXwrhaXMpsotha82qA+xpayMJJyj"
    "fIhDqAYppSiZrG6oCqk0rCmeFq3zKjalt6Whqz4woiisJHUtOCUdrEIpdrL3qtYx+Sqarwe1M6H8Hx8swCpyrYYWyKwJ"
    "rccxUyCyr/goz6wQK5+uvydsqA0mPKjApoMhViYeptShAS3SKCApu64ToXypISjyp8QumSWcLLOmIaE8ohaOUh3HKsWq"
    "fRvMKz0ofKB8GUwtPKw4KhSnAayBlhwvYKnEoYCtO66+J3SsMadvL9SrdbDIo52nsa6iLBgxV6yRsewaCKyRKRK30yAB"
    "MLazuSxNNGe1mKv6MywpJpw4shcstpw/tqe6RzgDJbYpqTSWr8OwWzfxKFUumi5cMM4tWDBzrDi1hioRqEgztKT6rfUy"
    "ibBhs9+R46TLrHilfbIgPIA2L6kHJDwpwqxXriyh+6Xer5Is7Ky0sMclM7IYMvKqtLI4KmWoWSWWKakuAalhJ2gvGCjP"
    "qgupZa3tmlywabdsJ72xp7EzNOUsby/1KlopeK3drVqufJ77sdixcC1WtfIwLKufKAs1GTUpL4ex3q4wrGgmNx+EMKm1"
    "zCl1sTk0ba+zMGusM6w/KRizFSgFscAlER9wKA+18i3GKBarRKrPrYevurCYsCCnHCkLsAuk6CE/sjSyAysrqVArviw6"
    "rsQoAy97LHWlmypGL2Oy862XovAxva7HrTcceKpmsLmofKGPrRKqcqYaJ2gg1i1MIZQx2J0/LnsmBqkKMJws+yyrMOWn"
    "aC6cmF2jUDFiK9Ast5IAK9Kni6FcICO0wTADsoWw4KqQtN+u9C09KgemRbKiKAew4bC4Jd6sIzBwKf0ugBxMpRMycB7N"
    "LUO0/KwUKDwxTityJKAy2bOZMBimBrNPMcAzWi99sXy0lCLLKqWqiShKL44vvbOQMV4v2rGWEssvzKB9sP6zHCiorfap"
    "xi/hL2Ew77fXrdsz2yYSLXGu9S2qsiKssabJsS8o+S1Hr7mW0bD7NfI0NbCNsEOt5DFesF0ubyyKrJ8ujLD3KMawWCzt"
    "M/Qwnq1RKdgqITKmLQkqKbCILnopu7DfrtyyY66XNPWxdLJSryEvGK+0sMYlpC4VLMkrvCcQNPwr8B0lMTK0yq2CLzgx"
    "mCcnpTWuhbCvnwSt7ab6KbeshijFqcMqqy5bLcQmqqwHM8y2N6FXrYauzKzyI80dTS1dIxUq8a47MGCnNpKbMdq3LKxT"
    "LXer7y0WIAIxDKEOL3Mr467TrxMoWa6hMG00lpfCLkCqdihPpfAmnhiQKx+jkK+qo/OuJx3gJ7mourJaOTu4pTW/t+kw"
    "5bH8JmyZ76d9k5St0zDQpN4u2zHQMM6xkjNjsdYsZbE4pPUpYLANLvCjUisGrEkrNKwksvIlra76LlkrAaOmGHGxaaX2"
    "GvUorSbWo6Kp/xvNIsWpV6VJq0+oYZJYGiog0axPskSvlqX7rXG3cyilpFSqAi8KsTorbigUrIskualiruqnHajsnN23"
    "KaU2rIWoh6JurO0koKfXrWWsDq/Jp1ConKieK7gxX6sVI1ygbZuRqiYRiqvWJMmgLahzJYiuMKpQLuo0nC2RnPesULDE"
    "q+Wx5LCGsKCwvK/WsiimprAYLPy1qjSPM7kwER9qpvgs6K+Nr/OvJrQqsaefrKklOTavQDkWNcEyPy8fqOUt3K6csgqz"
    "87TsrFCufy54PqU6K6zULtUuY6IUMC2jcij8K1wtPC65lQowDCUdpU4xA6QzsPCqoaUQru2kWSasrA4swi6KqwGtrSfH"
    "r+CwHal6rCwksSaYqUQepSnLEBCqmCUeKwErZSk1LoGpGyCvH3EluClzIL4or6aUJcilLykRrQmfRqGjqTY2aiX1JH+t"
    "3CodrnYeSCwZMCyrhjHSMMaY7i09soEw1bDBqz+vL6rEohcu4ytANDIrvajYKzMv/yx8uREctLGONFsvRCgYOD8z7jEm"
    "LCKz6aw7K5guAy7OuBiwbrA0H9iiJTEKscQwx6c7KtwwITBlJyOqPyjasv2sCbAYsiexAS33seu1I7PcsdkyTi+8qw2z"
    "V60FrdC0drKhrAarJLIptACuGbV4shokya95qduyxrTyNAasyq3eL6Ig56j0n96w46xaLdCsZbHRsESudy69MDMv3y96"
    "IB4ucqwSrC8cyCRhsEM05a0zMi8xsK9gKnU4BixnrzwuhSp4ru6sVKxTsO4sI58HKAgrb6zCGCM4caWWqkSlsp6AqXCd"
    "uKxbrL4hzakpqaWqya0yKJ+sqyiXJ/YqTaucqh4mias4sCigc6iLreKpravhsKsqwCyIKLcgmSpWJz0sZhPFkSCsKbAS"
    "sXImYap7tBmqE6ycMIGuka96MJiqJh7DroUnurKAK2YvHzNZqkmw3Cu0pmeu/KkYLyoxxCT4p0Adqq8VLSis1ahCqWy2"
    "VK6VuLIx/rCRJBOsMqhcrv61ODKDsYkgKSmvsOstYqXHsT8vHKZkq5esIS50rpOsJTJarbOuyi1rrJSuoSiRqZui6Cta"
    "tJSpqyjArT0kdizTDJyoDyfIsI04MKmmqMktk6VqqgQqlyhlrFUg9aQVIwQmpS3npoOggCtMqBUlayVCKqysrSxcr8uq"
    "hCIWqVurFh0dLFq19qUtIJMiRKlPLWgejB87LIYxayX6L7IsrSgzKZmugKksqcAkmyjNqwioHSgWLeovoi6UMUkxIChH"
    "LD60ga3dI0OwYSrUqS0pDioiK8ApviSLJSCgAxuWLgAwFqxsMGyyACcPm3IsISwdNCUthaxqpyK19q9Uqz+xvbTIMR+4"
    "eSYNLp01DzWHNgA2Q66SrCu2DKqstIW3nbWJLK+zkSmtscE0XDA5NDU2oayRMk+wqpDMsJC1JyyrJDCqs6JXIFusBq/Q"
    "J8KzaKQOr4MsI7CXq9e1YCh9K/+qmC+NIokprikAM0UrvygXrvUvUgfyKRukA6YeKQYoYqlEmjGt9qy0rJkjpajfqN6o"
    "BCm8KEK2J6cUrEuixKy7msKaji4ipV6nCqriJ5wlTRxZMXC1d6pVJDit7qZOrVuS1C6VoecrJK3gqAGhXyqGIVKzSKnM"
    "JTKlpi1/qzMxjCnNIjcpqCxsIY4QwKA3LFisO63MKQas255RJYgw+inJMfUmuq4JqxqqJq7iqcSskywPKhiwPrLzMQKw"
    "8LGLLZmx/ytEsGaxtTENskexUzGuscgk1y6/qEqssjJULdU1ArNPKbYukC9YMIkt3TYLMoozvi/fqA2x9Be3JBGdeqt4"
    "HXQwiKJtNmg6N7lnrCauJK7sreojdi3Xr2Ig6qooKS4wZS1bvBOmzqxJoWooESxqL1spKzSXMSQ08jH1NhApISy5Mv4w"
    "I6bWqe2lACmxIkUwRa5IKE4v96ZDNKwufjBBr8SsZrXgNIerpaRtLPQo8K9uNIcqd65PqHEtha19LLG0ubGnKi+3SasR"
    "qtAwNDQvOKQ1u6t0Is2yCLDHMF+z/qnNKyG1aC4rsAA0uTLzNKup36yhNHiuUTF7pQSych/yLvuoMzABsacqmLBaKlix"
    "oaapLyImLaJ1sOKrmzDaLVYteKZGMBCqia5uLJwt/6gwsCcrD6gAIeqz/K8jnwgriiXLpYUra6tfoJgy66SLqDMl4qvD"
    "NCmZjak+qTmo+ykoJEqo9SrZLB2juzDVK60mwSmZLIiwOqmWngEoqaJwpR6Y/SmNLeQsHih6pw+f0J4oNA20XZ8nqBur"
    "EiDnr/EqqSp3KPMtMyh8qsIcpq7UL9alGakVrMMu5KueslOwtq0MojUsmScfKBKhnrBdI1i0wagDp1Kw2azKqI6xQbKG"
    "r4CxMqQussitmqwxMOowl7bNMI+wOqpQM4clNpz9KYuokLAdrCUwqzGausS5kbXNFkUwGizKLBgw+C5yJuYy5y0WNM2s"
    "7q3KLA+2zKwysBs1V6n5oLooRqFMLPauA6jILBuvaKoIMaa0nCzmnEWqkSg7K6Gp76R9pQGYG6s1sLuohqQupq6tcyYg"
    "HI6OcSGopEuie6CdrF2ZoJ3ppyGnxiWaKEErDi6CqfkvvigeMbsp4ZBSqOqmGyY/qUKq1yt8Mtk2pDBeHMYh1isoHeUo"
    "ii/tKysom5aaEWQkc6+LJ8Q1xLHgHkeuFqcNKHSZMqs5JSikGq/lqj+fraOMtB00Y60UqZGliCxiJiwwCyo1LmWpPSxj"
    "LSUwBCKtsWqwkq8IsNKwRC1CsqCuJqx3Lnak8qsbLxeoqDCgqf64bjNzspexRaYLr1y0UrGFK7+wKyuSMFyt9DToq7G1"
    "ATa4srqxx7IDLgSyLq8VsuyyQqpSrvAwHDBPOeQtw7CVq1OlLylGsZygEKvyrKEpfh/KpY6sAq0ON6c1HSCyomuo1aHp"
    "LDCmICg1LpWqxKXUIUyqxa5WMcktlyCVK6ArIyLDKn8oSyXVMPswHrCYKTGt/Ck6rHSvmCsPLM0mOChTJqMo/6i3p64o"
    "Hq9LLh+wZxHDrCKtubXvtFswqCgushctfSwgmrU1gjGWMVy0wbCPMyYtDTC9Mwmp9rJZMvWyZ7Jar+y1ILC8tN4iN641"
    "MkGsE7lvtWOwfqeetXe0arQXsUcyBTX7smuusLG1sjggcawztF2u5K0lpUe2A7Ebs4Czt6SzsSOwBStoIeS1ObL6LZeb"
    "L7D2qKKsea1/GBOm5rLqJ+IqDi0osdOt3TAiLRYwv6xmKFCqOpiEqicAZyrZphUolSxeLNSulKjIqTKquDA/LAsh7TLA"
    "LXgsSzBFrI8mmCelLbctAjnyNN+y76DZMVy1Ozg+r3wkfTRora60P663MXAwoxyyHqs8GjD7reO10DTXNAezQjh9Nboy"
    "KLJArbmqkjUrOpK6LjzmOF+9E7tQOj26Z7kKuRq7CjkpOmg7fbz7uT46iL4LvT29VDsNOxO53br4vzq8YDx/O0C6SDru"
    "PQg8IrwbNw=="
)
