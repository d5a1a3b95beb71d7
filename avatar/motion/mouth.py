"""Procedural mouth: timed phones + acoustic features -> per-frame mouth channels.

The recipe is shared/ref/visemes.md: every phone has targets for jaw, lip
spread, upper-lip raise and lower-lip depress (§1); targets are blended with
Cohen–Massaro dominance functions (§3) on a 100 Hz (or 4×fps) grid whose peaks
sit ``LEAD`` before the acoustic phone centre, then area-averaged per video
frame so that a 30 ms phone still shows. The jaw is modulated by the acoustic
energy and mixed with §4's acoustic opening (energy × F1), so that the mouth
follows the loudness envelope the way real speakers' does; how much depends
on how far the phones can be trusted (exact timings, recognised English
phones, other languages, none). Bilabial closures are imposed last, on the
video frames (a weighted average of a 0 target is never 0), from the phones
and from the acoustic lip-closure detector (``AudioFeatures.closure``), the
learned form of §4's "an energy dip inside speech means a closure".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.audio.features import AudioFeatures, area_average
from avatar.speech.visemes import BILABIALS, NOISE, SILENCE, VOWELS, PhoneSegment, VisemeTrack

CHANNELS = ("jaw_open", "lip_spread", "upper_lip_raise", "lower_lip_depress", "smile")
JAW, SPREAD, ULR, LLD = range(4)

# Timing (§3).
LEAD = 0.03  # s: dominance peaks this far before the acoustic centre (20–40 ms)
HOLD_PAUSE = 0.12  # s: shorter pauses hold the surrounding shapes
REST_PAUSE = 0.35  # s: longer pauses relax to rest
ANTICIPATION = 0.15  # s: the jaw may start to open this long before voice activity
CLOSURE_MIN = 0.04  # s: bilabial lips-together time, at least

# Jaw = visemes × (ENV_FLOOR + (1 − ENV_FLOOR) × energy envelope), mixed with the
# acoustic jaw of §4. Exact timings (alignment, TTS events) need little of it;
# recognised phones are often wrong (a third of the vowels), so there the acoustics
# lead, and likewise for other languages, which are decoded with English models.
ENV_FLOOR = 0.35
ACOUSTIC_MIX = {"trusted": 0.1, "allphone": 0.7, "other": 0.7, "acoustic": 1.0}
ACOUSTIC_LIP_MIX = {"trusted": 0.0, "allphone": 0.5, "other": 0.5, "acoustic": 1.0}
F1_BASE = 0.3  # acoustic jaw at the speaker's lowest F1 (§4 says 0.1; 0.3 tracks loudness better)
# Output jaw = jaw ** JAW_GAMMA: a gentle compression that keeps mid vowels visibly open
# next to the widest ones (real mouths open for every a/ae/ah, schwa included).
JAW_GAMMA = 0.7
JAW_REST = 0.03  # dead zone: the far tails of the dominance functions leave the mouth shut

# Lip-closure detector (features.closure): hysteresis thresholds and minimum length.
CLOSURE_ON = 0.55
CLOSURE_HOLD = 0.35
CLOSURE_MIN_HOPS = 2
CLOSURE_TAIL = 0.02  # s: the lips part at the burst, a little after the detector lets go
RECOGNISED_VETO = 0.05  # a recognised p/b/m with less mean closure probability is dropped

# visemes.md §1: jaw, lip_spread (−pucker where rounded), ULR, LLD.
_T = {
    SILENCE: (0.0, 0.0, 0.0, 0.0),
    "P": (0.0, 0.0, 0.0, 0.0),
    "B": (0.0, 0.0, 0.0, 0.0),
    "M": (0.0, 0.0, 0.0, 0.0),
    "F": (0.06, 0.1, 0.35, 0.0),
    "V": (0.06, 0.1, 0.35, 0.0),
    "TH": (0.12, 0.1, 0.15, 0.2),
    "DH": (0.12, 0.1, 0.15, 0.2),
    "T": (0.12, 0.1, 0.1, 0.1),
    "D": (0.12, 0.1, 0.1, 0.1),
    "N": (0.12, 0.1, 0.1, 0.1),
    "S": (0.08, 0.35, 0.2, 0.2),
    "Z": (0.08, 0.35, 0.2, 0.2),
    "SH": (0.12, -0.4, 0.25, 0.25),
    "ZH": (0.12, -0.4, 0.25, 0.25),
    "CH": (0.12, -0.4, 0.25, 0.25),
    "JH": (0.12, -0.4, 0.25, 0.25),
    "K": (0.25, 0.1, 0.05, 0.1),
    "G": (0.25, 0.1, 0.05, 0.1),
    "NG": (0.25, 0.1, 0.05, 0.1),
    "L": (0.3, 0.1, 0.1, 0.15),
    "R": (0.2, -0.3, 0.0, 0.0),
    "W": (0.15, -0.85, 0.0, 0.0),
    "Y": (0.12, 0.5, 0.1, 0.1),
    "IY": (0.10, 0.7, 0.15, 0.1),
    "IH": (0.25, 0.45, 0.1, 0.15),
    "EH": (0.55, 0.35, 0.15, 0.25),
    "AE": (0.70, 0.4, 0.15, 0.35),
    "AH": (0.70, 0.1, 0.1, 0.25),
    "AA": (0.90, 0.0, 0.1, 0.3),
    "AO": (0.65, -0.45, 0.0, 0.2),
    "UH": (0.35, -0.5, 0.0, 0.1),
    "UW": (0.15, -0.9, 0.0, 0.0),
    "ER": (0.35, -0.35, 0.0, 0.1),
}
# Schwa: §1 gives .35; we keep it more open (.6) because recognisers and
# dictionaries label most unstressed vowels AH, and those are visibly open.
_SCHWA = (0.6, 0.1, 0.1, 0.2)
# Diphthongs: first target for 60 % of the phone, second for 40 % (§1).
_DIPH = {
    "EY": ((0.30, 0.45, 0.1, 0.15), (0.10, 0.7, 0.1, 0.15)),
    "OW": ((0.35, -0.5, 0.0, 0.1), (0.20, -0.8, 0.0, 0.1)),
    "AY": ((0.90, 0.0, 0.1, 0.3), (0.25, 0.5, 0.1, 0.1)),
    "AW": ((0.90, 0.0, 0.1, 0.3), (0.35, -0.7, 0.1, 0.1)),
    "OY": ((0.65, -0.5, 0.0, 0.2), (0.25, 0.4, 0.0, 0.1)),
}

_ROUNDING = frozenset("UW W OW UH AO SH ZH CH JH R ER".split())
_TONGUE = frozenset("S Z TH DH T D N L Y".split())
_VELAR = frozenset("K G NG HH".split())


@dataclass(frozen=True)
class _Dom:
    alpha: float
    before: float  # W← (s): dominance falls to 10 % this far before the centre
    after: float  # W→ (s)


_D_BILABIAL = _Dom(1.0, 0.06, 0.04)
_D_LABIODENTAL = _Dom(0.9, 0.06, 0.04)
_D_ROUND = _Dom(0.8, 0.20, 0.12)
_D_VOWEL = _Dom(0.6, 0.10, 0.08)
_D_TONGUE = _Dom(0.4, 0.06, 0.06)
_D_WEAK = _Dom(0.15, 0.04, 0.04)
_D_SIL = _Dom(0.3, 0.15, 0.15)


def _dominance(phone: str) -> tuple[_Dom, _Dom, _Dom, _Dom]:
    """Dominance parameters per channel (jaw, spread, ULR, LLD) of §3's table."""
    if phone in BILABIALS:
        return (_D_BILABIAL,) * 4
    if phone in ("F", "V"):
        return (_D_LABIODENTAL,) * 4
    if phone == SILENCE:
        return (_D_SIL,) * 4
    if phone in VOWELS:
        spread = _D_ROUND if phone in _ROUNDING else _D_VOWEL
        return (_D_VOWEL, spread, _D_VOWEL, _D_VOWEL)
    if phone in _VELAR:
        return (_D_WEAK,) * 4
    spread = _D_ROUND if phone in _ROUNDING else _D_WEAK
    lips = _D_TONGUE if phone in _ROUNDING else _D_WEAK
    return (_D_TONGUE, spread, lips, lips)


@dataclass
class _Unit:
    phone: str
    start: float
    end: float
    target: tuple[float, float, float, float]
    dom: tuple[_Dom, _Dom, _Dom, _Dom]
    plateau: float = 0.0  # half-width (s) over which dominance stays at alpha


# --------------------------------------------------------------------------- public


def mouth_curves(
    track: VisemeTrack,
    features: AudioFeatures,
    fps: float,
    n_frames: int,
    *,
    language: str = "en",
) -> dict[str, np.ndarray]:
    """Per-frame mouth channels (float32, length ``n_frames``) for the ``Motion`` mouth group.

    Deterministic. Silence gives a closed mouth at rest; p/b/m centres are
    closed for at least 40 ms whatever the frame rate.
    """
    n_frames = int(n_frames)
    rate = max(100.0, 4.0 * fps)
    n_int = max(1, int(np.ceil(n_frames * rate / fps)))
    t = (np.arange(n_int) + 0.5) / rate

    env, gate = _envelopes(features, rate, n_int)
    lang = (language or track.language or "en").lower()
    english = lang.startswith("en")
    has_phones = track.source != "acoustic" and any(not s.is_silence for s in track.segments)
    trusted = has_phones and track.source in ("alignment", "espeak")
    if not has_phones:
        policy = "acoustic"
    elif trusted and (english or track.source == "espeak"):
        policy = "trusted"
    elif english:
        policy = "allphone"
    else:
        policy = "other"

    if has_phones:
        units = _units(track.segments)
        curves = _blend(units, t)
    else:
        units = []
        curves = np.zeros((4, n_int))

    acoustic = _acoustic_curves(features, rate, n_int, gate)
    mix = ACOUSTIC_MIX[policy]
    lip_mix = ACOUSTIC_LIP_MIX[policy]
    jaw = curves[JAW] * (ENV_FLOOR + (1.0 - ENV_FLOOR) * env)
    if policy != "trusted":  # recognised phones may sit in noise: keep them to voice activity
        jaw = jaw * _anticipate(gate, int(round(ANTICIPATION * rate)))
    curves[JAW] = (1.0 - mix) * jaw + mix * acoustic[JAW]
    for ch in (SPREAD, ULR, LLD):
        curves[ch] = (1.0 - lip_mix) * curves[ch] + lip_mix * acoustic[ch]

    jaw = np.clip(curves[JAW], 0.0, 1.0) ** JAW_GAMMA
    curves[JAW] = np.clip((jaw - JAW_REST) / (1.0 - JAW_REST), 0.0, 1.0)  # tails -> exact rest
    _labiodental_rule(units, t, curves)
    frames = np.stack([area_average(curves[c], rate, fps, n_frames) for c in range(4)])
    closures = _closures(track.segments if has_phones else [], features, policy)
    _impose_closures(frames, closures, fps)

    out = {
        "jaw_open": np.clip(frames[JAW], 0.0, 1.0),
        "lip_spread": np.clip(frames[SPREAD], -1.0, 1.0),
        "upper_lip_raise": np.clip(frames[ULR], 0.0, 1.0),
        "lower_lip_depress": np.clip(frames[LLD], 0.0, 1.0),
        "smile": np.zeros(n_frames),
    }
    return {k: v.astype(np.float32) for k, v in out.items()}


# --------------------------------------------------------------------------- phones -> units


def _units(segments: list[PhoneSegment]) -> list[_Unit]:
    """Targets and dominance per phone, with §1's duration rules and §3's pause rules."""
    segs = [s for s in segments if s.end > s.start]
    units: list[_Unit] = []
    for i, s in enumerate(segs):
        ph = s.phone
        dur = s.duration
        if ph == SILENCE or ph in NOISE:
            inner = 0 < i < len(segs) - 1
            if inner and dur < HOLD_PAUSE:
                continue  # hold: the neighbours blend straight across
            tgt = (0.0, 0.0, 0.0, 0.0)
            if inner and dur < REST_PAUSE and units:
                prev = units[-1].target
                tgt = (0.3 * prev[0], 0.5 * prev[1], 0.0, 0.0)  # relax, lips not pressed
            units.append(
                _Unit(SILENCE, s.start, s.end, tgt, _dominance(SILENCE), max(0.0, dur / 2 - 0.05))
            )
            continue
        dom = _dominance(ph)
        plateau = max(0.0, dur / 2 - 0.03) * 0.5
        if ph in _DIPH:
            a, b = _DIPH[ph]
            if ph in ("AY", "AW") and dur < (0.2 if ph == "AY" else 0.3):
                a = (0.7,) + a[1:]  # short: C (open) instead of D (wide)
            mid = s.start + 0.6 * dur
            units.append(_Unit(ph, s.start, mid, a, dom, plateau * 0.6))
            units.append(_Unit(ph, mid, s.end, b, dom, plateau * 0.4))
            continue
        if ph == "HH":
            nxt = _next_vowel(segs, i)
            tg = _target(nxt) if nxt is not None else _T["AH"]
            units.append(_Unit(ph, s.start, s.end, (0.7 * tg[0],) + tuple(tg[1:]), dom, plateau))
            continue
        units.append(_Unit(ph, s.start, s.end, _target(s), dom, plateau))
    return units


def _target(s: PhoneSegment) -> tuple[float, float, float, float]:
    ph = s.phone
    dur = s.duration
    if ph == "AH" and (s.reduced or dur < 0.06):
        return _SCHWA
    if ph == "ER" and dur < 0.07:
        return _SCHWA
    if ph == "L" and dur >= 0.2:
        return (0.5,) + _T["L"][1:]
    if ph in _DIPH:
        return _DIPH[ph][0]
    return _T.get(ph, _T["AH"] if ph in VOWELS else _T["T"])


def _next_vowel(segs: list[PhoneSegment], i: int) -> PhoneSegment | None:
    for s in segs[i + 1 : i + 3]:
        if s.phone in VOWELS:
            return s
        if s.is_silence:
            return None
    return None


# --------------------------------------------------------------------------- blending


def _blend(units: list[_Unit], t: np.ndarray) -> np.ndarray:
    """Cohen–Massaro blend F = Σ D·T / Σ D per channel, with c = 1 and θ = ln10 / W."""
    n = t.size
    rate = 1.0 / (t[1] - t[0]) if n > 1 else 100.0
    num = np.zeros((4, n))
    den = np.full((4, n), 1e-9)
    ln10 = np.log(10.0)
    for u in units:
        c = 0.5 * (u.start + u.end) - (LEAD if u.phone != SILENCE else 0.0)
        for ch in range(4):
            d = u.dom[ch]
            reach = u.plateau + 3.0 * max(d.before, d.after)
            i0 = max(0, int((c - reach) * rate))
            i1 = min(n, int((c + reach) * rate) + 2)
            if i1 <= i0:
                continue
            tau = t[i0:i1] - c
            before = tau < 0
            dist = np.maximum(np.abs(tau) - u.plateau, 0.0)
            w = np.where(before, d.before, d.after)
            dm = d.alpha * np.exp(-ln10 * dist / w)
            num[ch, i0:i1] += dm * u.target[ch]
            den[ch, i0:i1] += dm
    out = num / den
    # Far from every unit (no dominance at all) the mouth rests.
    out[den < 1e-6] = 0.0
    return out


def _labiodental_rule(units: list[_Unit], t: np.ndarray, curves: np.ndarray) -> None:
    """§3 hard rule 2: during F/V keep the upper lip raised (≥ .3) and the jaw nearly shut."""
    rate = 1.0 / (t[1] - t[0]) if t.size > 1 else 100.0
    for u in units:
        if u.phone not in ("F", "V"):
            continue
        c = 0.5 * (u.start + u.end) - 0.01  # lip-teeth contact is local: little lead
        half = max(0.01, 0.3 * (u.end - u.start))
        i0 = max(0, int((c - half) * rate))
        i1 = min(t.size, int((c + half) * rate) + 1)
        curves[ULR, i0:i1] = np.maximum(curves[ULR, i0:i1], 0.3)
        curves[JAW, i0:i1] = np.minimum(curves[JAW, i0:i1], 0.1)
        curves[LLD, i0:i1] = np.minimum(curves[LLD, i0:i1], 0.05)


# --------------------------------------------------------------------------- acoustics


def _hires(features: AudioFeatures) -> AudioFeatures:
    return features.hires if features.hires is not None else features


def _resample(v: np.ndarray, src_rate: float, rate: float, n: int) -> np.ndarray:
    """Piecewise-linear resampling of a track onto the internal grid."""
    if v.size == 0:
        return np.zeros(n)
    ts = (np.arange(v.size) + 0.5) / src_rate
    t = (np.arange(n) + 0.5) / rate
    return np.interp(t, ts, v.astype(np.float64), left=float(v[0]), right=0.0)


def _smooth(v: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or v.size < width:
        return v
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    return np.convolve(v, k, mode="same")


def _envelopes(features: AudioFeatures, rate: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(energy envelope 0..1, speech gate 0..1) on the internal grid."""
    h = _hires(features)
    src = h.fps
    db = h.speech_db.astype(np.float64)
    floor, peak = h.floor_db, h.peak_db
    span = max(peak - floor, 1.0)
    # envelope over the speech part of the dynamic range
    lo = floor + 0.25 * span
    env = np.clip((db - lo) / max(peak - lo, 1e-3), 0.0, 1.0)
    env = _smooth(env, 3)
    gate = _smooth(h.voiced.astype(np.float64), 5)
    return _resample(env, src, rate, n), np.clip(_resample(gate, src, rate, n), 0.0, 1.0)


def _anticipate(gate: np.ndarray, width: int) -> np.ndarray:
    """max of ``gate`` over the next ``width`` samples: lets the mouth open before the voice."""
    if width <= 0 or gate.size == 0:
        return gate
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(gate, size=width + 1, origin=-(width // 2), mode="nearest")


def _acoustic_curves(features: AudioFeatures, rate: float, n: int, gate: np.ndarray) -> np.ndarray:
    """§4: jaw from energy and F1, rounding from F2, fricatives nearly closed."""
    h = _hires(features)
    src = h.fps
    out = np.zeros((4, n))
    db = h.speech_db.astype(np.float64)
    span = max(h.peak_db - h.floor_db, 1.0)
    energy = np.clip((db - (h.floor_db + 0.2 * span)) / (0.8 * span), 0.0, 1.0)
    f1 = h.f1.astype(np.float64)
    f2 = h.f2.astype(np.float64)
    ok = (f1 > 0) & (h.f0 > 0)
    if ok.sum() >= 10:
        f1lo, f1hi = np.percentile(f1[ok], [5, 95])
        f2lo, f2hi = (
            np.percentile(f2[ok & (f2 > 0)], [5, 95])
            if (ok & (f2 > 0)).sum() > 5
            else (
                800.0,
                2200.0,
            )
        )
        f1med = float(np.median(f1[ok]))
        f1s = _fill(f1, ok)
        open_ = F1_BASE + (0.9 - F1_BASE) * np.clip((f1s - f1lo) / max(f1hi - f1lo, 1.0), 0, 1)
        okr = ok & (f1 < f1med) & (f2 > 0)
        pucker = np.where(okr, np.clip((f2hi - _fill(f2, ok)) / max(f2hi - f2lo, 1.0), 0, 1), 0.0)
    else:
        open_ = np.full(db.size, 0.5)
        pucker = np.zeros(db.size)
    open_ = _smooth(open_, 5)
    pucker = _smooth(pucker, 9)
    jaw = np.sqrt(energy) * open_
    fric = (h.centroid > 3000.0) & (h.low_frac < 0.2) & (h.f0 == 0)
    jaw = np.where(fric, np.minimum(jaw, 0.08), jaw)
    out[JAW] = _resample(_smooth(jaw, 3), src, rate, n)
    out[SPREAD] = _resample(0.3 * (1 - pucker) - 0.8 * pucker, src, rate, n) * gate
    out[ULR] = 0.12 * gate
    out[LLD] = _resample(0.3 * open_ * energy, src, rate, n)
    return out


def _fill(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``v`` over the frames where ``ok`` is false."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return np.zeros_like(v)
    return np.interp(np.arange(v.size), idx, v[idx])


# --------------------------------------------------------------------------- closures


def _closures(
    segments: list[PhoneSegment], features: AudioFeatures, policy: str
) -> list[tuple[float, float, float]]:
    """(start, end, centre) seconds of each lips-together interval.

    Exact timings (alignment, TTS) are trusted as they are. Recognised phones
    miss most bilabials, so the acoustic closure detector adds its own (the
    learned form of §4's "energy dip means closure"); a recognised bilabial
    the detector finds no trace of is dropped unless timings are trusted. For
    other languages the English phone models' bilabials are not used at all.
    """
    h = _hires(features)
    prob = np.asarray(h.closure, np.float64)
    rate = h.fps
    out = []
    for s in segments:
        if s.phone not in BILABIALS or policy in ("other", "acoustic"):
            continue
        c = s.centre
        if policy != "trusted" and prob.size:
            i0, i1 = int(s.start * rate), int(np.ceil(s.end * rate))
            if prob[max(0, i0) : max(i0 + 1, i1)].mean() < RECOGNISED_VETO:
                continue
        out.append(
            (min(s.start - 0.01, c - CLOSURE_MIN / 2), max(s.end + 0.01, c + CLOSURE_MIN / 2), c)
        )
    if policy != "trusted":
        out.extend(_detected_closures(prob, rate))
    return out


def _detected_closures(prob: np.ndarray, rate: float) -> list[tuple[float, float, float]]:
    """Runs of closure probability above CLOSURE_HOLD that peak above CLOSURE_ON."""
    out = []
    m = np.concatenate([[False], prob > CLOSURE_HOLD, [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    for s, e in zip(edges[0::2], edges[1::2]):
        if e - s < CLOSURE_MIN_HOPS or prob[s:e].max() < CLOSURE_ON:
            continue
        a, b = s / rate, e / rate + CLOSURE_TAIL
        out.append((a, b, 0.5 * (a + b)))
    return out


def _impose_closures(
    frames: np.ndarray, closures: list[tuple[float, float, float]], fps: float
) -> None:
    """Lips together on every frame whose middle lies in a closure, and on its centre frame."""
    n = frames.shape[1]
    if n == 0:
        return
    need = max(1, int(np.ceil(CLOSURE_MIN * fps - 1e-9)))
    for a, b, c in closures:
        f0 = int(np.floor(a * fps))
        f1 = int(np.floor(b * fps))
        sel = []
        for f in range(max(0, f0), min(n - 1, f1) + 1):
            if a <= (f + 0.5) / fps < b:
                sel.append(f)
        fc = int(np.floor(c * fps))
        if 0 <= fc < n and fc not in sel:
            sel.append(fc)
        sel.sort()
        # at least CLOSURE_MIN of frames, grown around the centre frame
        lo, hi = (sel[0], sel[-1]) if sel else (fc, fc)
        while hi - lo + 1 < need:
            if lo > 0 and (hi >= n - 1 or (c * fps - lo) <= (hi + 1 - c * fps)):
                lo -= 1
            elif hi < n - 1:
                hi += 1
            else:
                break
        lo, hi = max(0, lo), min(n - 1, hi)
        frames[JAW, lo : hi + 1] = 0.0
        frames[ULR, lo : hi + 1] = 0.0
        frames[LLD, lo : hi + 1] = 0.0
        frames[SPREAD, lo : hi + 1] = np.clip(frames[SPREAD, lo : hi + 1], -0.5, 0.15)
