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

import importlib.metadata
import json
import os
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

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
    """Vectorised YIN (cumulative mean normalised difference) on 10 ms hops.

    Not ``librosa.yin``: that returns no voicing strength (``periodicity`` is the
    YIN dip's depth) and is 1.2-1.8x slower on the same range and hop.
    """
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
    """Triangular HTK-mel filterbank (n_fft_bins, n_mels), peak 1.

    Equal to ``librosa.filters.mel(..., htk=True, norm=None).T`` (a test checks
    it bit for bit) but written out: importing librosa costs 0.3-0.45 s per
    process, several times this whole stage on 10 s of speech (see
    benchmarks/bench_audio_frontend.py), for one 24 x 257 matrix.
    """

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

# The closure network ships as weights/lip_closure/ (model.safetensors + config.json + a
# README model card); ``avatar train-closure`` (avatar.speech.closure_training) retrains it.
CLOSURE_MODEL = "lip_closure"
CLOSURE_FORMAT = 1  # version of config.json / of the input features below
# Context frames (10 ms hops) stacked as the closure network's input.
_CLOSURE_OFFSETS = np.array([-12, -8, -4, -2, 0, 2, 4, 8, 12])
_CLOSURE_HIDDEN = 32
_CLOSURE_ACTIVE_DB = 40.0  # hops within this of the peak level define the cepstral mean
_CLOSURE_C0_PERCENTILE = 98.0  # c0 is taken relative to this percentile
_CLOSURE_MFCC_SCALE = (10.0,) + (3.0,) * (N_MFCC - 1)
_CLOSURE_LEVEL_SCALE_DB = 20.0
_CLOSURE_FEATURE_NAMES = tuple(f"mfcc{i}" for i in range(N_MFCC)) + ("level", "periodicity")
_SAFETENSORS_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8"}
_closure_net: ClosureNet | None = None


@dataclass(frozen=True)
class ClosureNet:
    """The closure network: ``sigmoid(tanh(x @ w1.T + b1) @ w2 + b2)`` in float64."""

    w1: np.ndarray  # (hidden, len(offsets) * 15)
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (hidden,)
    b2: float
    offsets: np.ndarray  # context offsets in 10 ms hops

    @property
    def hidden(self) -> int:
        return int(self.w1.shape[0])


def closure_config(offsets=_CLOSURE_OFFSETS, hidden: int = _CLOSURE_HIDDEN) -> dict:
    """The ``config.json`` of a closure model: shapes and the exact input features."""
    offsets = [int(o) for o in offsets]
    return {
        "name": CLOSURE_MODEL,
        "format": CLOSURE_FORMAT,
        "task": "per 10 ms hop, P(lips closed: p/b/m) from audio",
        "architecture": "mlp: Linear(input_dim, hidden) -> tanh -> Linear(hidden, 1) -> sigmoid",
        "hidden": int(hidden),
        "offsets": offsets,
        "hop_s": 1.0 / HOP_RATE,
        "sample_rate": 16000,
        "feature_names": list(_CLOSURE_FEATURE_NAMES),
        "input_dim": len(offsets) * len(_CLOSURE_FEATURE_NAMES),
        "input_layout": "offset-major: input[k * 15 + j] = feature j at hop t + offsets[k], "
        "hop index clipped to the clip",
        "normalisation": {
            "mfcc": f"{N_MFCC} DCT cepstra of the noise-floor-subtracted log mel spectrum "
            "(avatar.audio.features, 25 ms windows, 10 ms hop)",
            "mfcc1_12_minus_mean_over_hops_with_rms_db_above_peak_minus": _CLOSURE_ACTIVE_DB,
            "mfcc0_minus_percentile": _CLOSURE_C0_PERCENTILE,
            "mfcc_divide_by": list(_CLOSURE_MFCC_SCALE),
            "level": "(rms_db - peak_db) / level_scale_db, peak_db = 98th percentile of rms_db",
            "level_scale_db": _CLOSURE_LEVEL_SCALE_DB,
            "periodicity": "YIN voicing strength 0..1, unscaled",
        },
        "tensors": {
            "hidden.weight": [int(hidden), len(offsets) * len(_CLOSURE_FEATURE_NAMES)],
            "hidden.bias": [int(hidden)],
            "output.weight": [1, int(hidden)],
            "output.bias": [1],
        },
        "dtype": "float16",
    }


def closure_model_dir() -> Path:
    """The folder of the shipped closure model.

    A source checkout or editable install reads ``<repo>/weights/lip_closure``; a regular
    install reads the copy that the wheel puts under ``<prefix>/share/talking-avatar/weights``
    (``[tool.setuptools.data-files]``), found through the installed distribution's file list.
    """
    repo = Path(__file__).resolve().parents[2] / "weights" / CLOSURE_MODEL
    if (repo / "model.safetensors").is_file():
        return repo
    try:
        files = importlib.metadata.files("talking-avatar") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == "model.safetensors" and f.parent.name == CLOSURE_MODEL:
            path = Path(f.locate()).resolve()
            if path.is_file():
                return path.parent
    shared = Path(sys.prefix) / "share" / "talking-avatar" / "weights" / CLOSURE_MODEL
    if (shared / "model.safetensors").is_file():
        return shared
    raise FileNotFoundError(
        f"the lip-closure model ({CLOSURE_MODEL}/model.safetensors) is missing: looked in {repo}, "
        f"the talking-avatar install and {shared}"
    )


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays (float only; no dependency)."""
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw, dtype, count=(b - a) // dtype.itemsize, offset=8 + n + a)
        out[name] = arr.reshape(info["shape"])
    return out


def load_closure_net(directory: str | os.PathLike[str] | None = None) -> ClosureNet:
    """Load a closure model folder (default: the shipped ``weights/lip_closure``)."""
    folder = Path(directory) if directory is not None else closure_model_dir()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("format") != CLOSURE_FORMAT or config.get("feature_names") != list(
        _CLOSURE_FEATURE_NAMES
    ):
        raise ValueError(f"{folder}: not a format-{CLOSURE_FORMAT} lip-closure model")
    t = read_safetensors(folder / "model.safetensors")
    offsets = np.asarray(config["offsets"], dtype=np.int64)
    h = int(config["hidden"])
    d = len(offsets) * len(_CLOSURE_FEATURE_NAMES)
    w1 = t["hidden.weight"].astype(np.float64)
    if w1.shape != (h, d):
        raise ValueError(f"{folder}: hidden.weight is {w1.shape}, config says {(h, d)}")
    return ClosureNet(
        w1=w1,
        b1=t["hidden.bias"].astype(np.float64).reshape(h),
        w2=t["output.weight"].astype(np.float64).reshape(h),
        b2=t["output.bias"].astype(np.float64).reshape(1)[0],
        offsets=offsets,
    )


def _closure_weights() -> ClosureNet:
    global _closure_net
    if _closure_net is None:
        _closure_net = load_closure_net()
    return _closure_net


def closure_features(
    mfcc: np.ndarray,
    rms_db: np.ndarray,
    peak_db: float,
    periodicity: np.ndarray,
    offsets: np.ndarray = _CLOSURE_OFFSETS,
) -> np.ndarray:
    """Per-hop input of the closure network: normalised cepstra, level and voicing, ±120 ms.

    The layout and constants are described by ``closure_config()`` (``config.json``).
    """
    offsets = np.asarray(offsets)
    m = np.asarray(mfcc, np.float64).copy()
    db = np.asarray(rms_db, np.float64)
    n = len(m)
    if n == 0:
        return np.zeros((0, len(offsets) * (N_MFCC + 2)))
    act = db > peak_db - _CLOSURE_ACTIVE_DB
    if act.sum() < 5:
        act[:] = True
    m[:, 1:] -= m[act, 1:].mean(axis=0)
    m[:, 0] -= np.percentile(m[:, 0], _CLOSURE_C0_PERCENTILE)
    scale = np.array(_CLOSURE_MFCC_SCALE)
    level = (db - peak_db) / _CLOSURE_LEVEL_SCALE_DB
    base = np.concatenate(
        [m / scale, level[:, None], np.asarray(periodicity, np.float64)[:, None]], axis=1
    )
    idx = np.clip(np.arange(n)[:, None] + offsets[None, :], 0, n - 1)
    return base[idx].reshape(n, -1)


def closure_probability(
    mfcc: np.ndarray,
    rms_db: np.ndarray,
    peak_db: float,
    periodicity: np.ndarray,
    net: ClosureNet | None = None,
) -> np.ndarray:
    """P(lips closed) per 10 ms hop (``net``: default the shipped ``weights/lip_closure``).

    Phone recognition alone finds under half of the p/b/m in real speech (they
    come out as d, t, n or silence), so the mouth also asks this detector: a
    135-32-1 tanh network over ±120 ms of noise-floor-subtracted cepstra. It
    was trained on frames labelled by forced alignment (GRID speaker s1 of
    videos_train, the LJ Speech and JFK clips of shared/data) and by espeak-ng
    phoneme events (80 sentences, 8 voices, 3 rates), 60% of the clips also as a
    copy with white, pink, brown or babble noise at 0-20 dB SNR. Frame AUC on held-out GRID speakers: 0.95
    (model card: weights/lip_closure/README.md).
    """
    net = _closure_weights() if net is None else net
    x = closure_features(mfcc, rms_db, peak_db, periodicity, net.offsets)
    if x.shape[0] == 0:
        return np.zeros(0)
    z = np.tanh(x @ net.w1.T + net.b1) @ net.w2 + net.b2
    return 1.0 / (1.0 + np.exp(-z))
