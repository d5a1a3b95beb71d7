"""The motion model's training corpus: real talking videos plus synthetic speech.

Two sources, cached as one ``.npz`` per clip so the recipe is re-runnable:

- **Real clips** (any folder of ``.mp4``/``.mpg``/``.mov``/``.mkv``): the
  evaluation tracker (``avatar.eval.tracker``, MediaPipe FaceMesh) reads head
  pose, face position/size, eye openness and the inner-lip gap per frame; the
  clip's own audio gives the conditioning (features + viseme curves from
  phones *recognised* without a transcript, as at inference). Channel mapping
  (Motion units, see ``avatar.motion.types``): yaw/pitch/roll = tracker angles
  minus the clip median (degrees); tx/ty = box-centre shift / median face
  width; scale = face width / median − 1 (light 0.7-frame smoothing against
  tracker jitter). The tracker measures no gaze, brows or lip shape, so those
  channels are masked out of the loss; its mouth opening is not used either,
  because the viseme curves already sync better with the audio than the real
  GRID mouths do (DESIGN.md: real r 0.24-0.57), so real clips teach the head.
- **Synthetic clips**: espeak-ng sentences (several languages, voices, rates
  and pitches, joined by pauses) with noise, reverberation and band-limiting.
  Mouth targets come from the *exact* phones; the conditioning mouth from
  *perturbed* phones (jittered boundaries, substitutions, deletions, marked
  as recognised) — a stand-in for recognition errors at a fraction of the
  cost of running the recogniser on every clip. Head, gaze and brows come from
  the procedural generator with random seeds and knobs.

Head channels are divided by the clip's head amount (RMS of yaw and pitch,
degrees), so real (small) and synthetic (larger) motion teach the same
unit-amount dynamics; the amount is applied at inference (a knob).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.ndimage import gaussian_filter1d

from avatar.audio.features import compute_features
from avatar.audio.speech import Speech
from avatar.motion.diffusion.conditioning import (
    HEAD,
    MODEL_CHANNELS,
    RESIDUAL_CHANNELS,
    condition_matrix,
    mouth_matrix,
)
from avatar.motion.mouth import mouth_curves
from avatar.speech.visemes import PhoneSegment, VisemeTrack

log = logging.getLogger(__name__)

FPS = 25.0
CACHE_VERSION = 1
VIDEO_SUFFIXES = (".mp4", ".mpg", ".mov", ".mkv", ".avi", ".webm")
MIN_HEAD_AMOUNT = 0.3  # degrees: clips stiller than this are scaled as if this still
MIN_FOUND = 0.9  # share of frames with a tracked face for a real clip to count

_HEAD_IDX = [MODEL_CHANNELS.index(c) for c in HEAD]
_RESID_IDX = [MODEL_CHANNELS.index(c) for c in RESIDUAL_CHANNELS]


@dataclass
class MotionClip:
    """One training clip: target motion, conditioning and which channels are known."""

    name: str
    source: str  # "real" or "synthetic"
    motion: np.ndarray  # (n, len(MODEL_CHANNELS)); head normalised, mouth as residual
    cond: np.ndarray  # (n, COND_DIM)
    mask: np.ndarray  # (len(MODEL_CHANNELS),) 1 where the channel is a training target
    head_amount: float  # degrees (the divisor applied to the head channels)

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            name=self.name,
            source=self.source,
            motion=self.motion.astype(np.float32),
            cond=self.cond.astype(np.float32),
            mask=self.mask.astype(np.float32),
            head_amount=np.float32(self.head_amount),
            version=CACHE_VERSION,
        )

    @classmethod
    def load(cls, path: Path) -> MotionClip:
        z = np.load(path)
        return cls(
            str(z["name"]),
            str(z["source"]),
            z["motion"],
            z["cond"],
            z["mask"],
            float(z["head_amount"]),
        )


def head_amount(yaw: np.ndarray, pitch: np.ndarray) -> float:
    """RMS of yaw and pitch (degrees) after removing their means."""
    y, p = yaw - np.mean(yaw), pitch - np.mean(pitch)
    return float(np.sqrt(0.5 * (np.mean(y**2) + np.mean(p**2))))


def _assemble(
    name: str,
    source: str,
    channels: dict[str, np.ndarray],
    mouth_target: np.ndarray | None,
    cond: np.ndarray,
    known: set[str],
) -> MotionClip:
    n = cond.shape[0]
    motion = np.zeros((n, len(MODEL_CHANNELS)), np.float32)
    for i, c in enumerate(MODEL_CHANNELS):
        if c in channels:
            motion[:, i] = channels[c][:n]
    amount = max(MIN_HEAD_AMOUNT, head_amount(motion[:, 0], motion[:, 1]))
    motion[:, _HEAD_IDX] /= amount
    viseme = cond[:, -len(RESIDUAL_CHANNELS) :]
    if mouth_target is not None:
        motion[:, _RESID_IDX] = mouth_target[:n] - viseme
    mask = np.array([1.0 if c in known else 0.0 for c in MODEL_CHANNELS], np.float32)
    return MotionClip(name, source, motion, cond, mask, amount)


# --------------------------------------------------------------------------- real videos


def find_videos(folder: str | os.PathLike[str]) -> list[Path]:
    """Every video file under ``folder``, sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


def _fill_nan(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).copy()
    bad = ~np.isfinite(x)
    if bad.all():
        return np.zeros_like(x)
    if bad.any():
        idx = np.arange(len(x))
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def track_channels(track) -> dict[str, np.ndarray]:
    """Tracker output -> Motion head channels (see the module docstring for the mapping)."""
    out = {}
    for c in ("yaw", "pitch", "roll"):
        v = _fill_nan(getattr(track, c))
        out[c] = gaussian_filter1d(v - np.median(v), 0.7)
    cx = _fill_nan(track.center[:, 0])
    cy = _fill_nan(track.center[:, 1])
    fw = _fill_nan(track.face_width)
    w0 = float(np.median(fw))
    out["tx"] = gaussian_filter1d((cx - np.median(cx)) / w0, 0.7)
    out["ty"] = gaussian_filter1d((cy - np.median(cy)) / w0, 0.7)
    out["scale"] = gaussian_filter1d(fw / w0 - 1.0, 0.7)
    return {k: v.astype(np.float32) for k, v in out.items()}


def extract_real_clip(path: Path) -> MotionClip | None:
    """Track one talking video and recognise its phones; None when the face is not found."""
    from avatar.audio import load_voiceover
    from avatar.eval.tracker import track_video
    from avatar.speech import recognize_phones

    track = track_video(path)
    if track.n_frames < 25 or track.found_fraction < MIN_FOUND:
        log.info("%s: face found in %.0f%% of frames, skipped", path, 100 * track.found_fraction)
        return None
    speech = load_voiceover(path)
    n = track.n_frames
    features = compute_features(speech, track.fps or FPS, n)
    phones = recognize_phones(speech, language="en")
    mouth = mouth_curves(phones, features, features.fps, n, language="en")
    cond = condition_matrix(features, mouth)
    channels = track_channels(track)
    clip = _assemble(path.stem, "real", channels, None, cond, set(HEAD))
    return clip


# --------------------------------------------------------------------------- synthetic speech

SENTENCES = {
    "es": [
        "Buenos días, hoy vamos a hablar de un tema muy importante.",
        "El tren sale a las ocho de la mañana desde la estación central.",
        "Mi hermana compró pan, leche y manzanas en el mercado.",
        "Por favor, cierra la puerta cuando salgas de la casa.",
        "La película fue mucho mejor de lo que esperábamos.",
    ],
    "de": [
        "Guten Morgen, heute sprechen wir über ein wichtiges Thema.",
        "Der Zug fährt um acht Uhr vom Hauptbahnhof ab.",
        "Meine Mutter backt jeden Sonntag einen Apfelkuchen.",
    ],
    "fr": [
        "Bonjour à tous, aujourd'hui nous parlons d'un sujet important.",
        "Le marché ouvre à neuf heures et ferme à midi.",
        "Mon frère joue du piano depuis qu'il est petit.",
    ],
    "it": [
        "Buongiorno, oggi parliamo di un argomento molto importante.",
        "La biblioteca apre alle nove e chiude alle sei.",
    ],
    "pt": [
        "Bom dia, hoje vamos falar sobre um assunto importante.",
        "O barco partiu do porto antes do pôr do sol.",
    ],
    "ja": [
        "こんにちは、きょうは いい てんき ですね。",
        "わたしは まいあさ パンを たべて、コーヒーを のみます。",
        "あしたの かいぎは くじに はじまります。",
    ],
    "cmn": [
        "大家好，今天我们来谈一个重要的问题。",
        "我每天早上八点坐地铁去上班。",
        "这本书比那部电影好看多了。",
    ],
}
LANG_WEIGHTS = {"en": 0.55, "es": 0.1, "de": 0.05, "fr": 0.06, "it": 0.04, "pt": 0.04}
LANG_WEIGHTS |= {"ja": 0.08, "cmn": 0.08}
VARIANTS = ("", "+f2", "+m3", "+f4", "+m7", "+f3", "+m1")
_SUB_PHONES = "AA AE AH IY IH EH UW OW ER M B P F V T D S Z N L K G W R Y HH".split()


def _perturb_phones(track: VisemeTrack, rng: np.random.Generator) -> VisemeTrack:
    """Recognition-like errors: jittered boundaries, 15 % substitutions, 5 % deletions."""
    segs: list[PhoneSegment] = []
    for s in track.segments:
        if not s.is_silence and rng.random() < 0.05 and segs:
            prev = segs[-1]
            segs[-1] = PhoneSegment(prev.phone, prev.start, s.end)
            continue
        phone = s.phone
        if not s.is_silence and rng.random() < 0.15:
            phone = str(rng.choice(_SUB_PHONES))
        segs.append(PhoneSegment(phone, s.start, s.end))
    bounds = np.array([s.start for s in segs[1:]])
    bounds = bounds + rng.normal(0, 0.025, len(bounds))
    out = []
    for i, s in enumerate(segs):
        start = s.start if i == 0 else float(bounds[i - 1])
        end = s.end if i == len(segs) - 1 else float(bounds[i])
        if i:
            start = max(start, out[-1].end)
        if end - start > 0.01:
            out.append(PhoneSegment(s.phone, start, end))
    return VisemeTrack(out, "allphone", track.language, track.duration)


def _reverb(x: np.ndarray, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.6)
    n = int(rt60 * sr)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = 1.0 / rng.uniform(0.3, 1.0)
    y = signal.fftconvolve(x, ir)[: len(x)]
    return y / (np.max(np.abs(y)) + 1e-9) * np.max(np.abs(x))


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from avatar.speech.closure_training import noise, normalize_loudness

    x = x.astype(np.float64)
    if rng.random() < 0.3:
        x = _reverb(x, rng)
    if rng.random() < 0.3:  # telephone-like band
        sos = signal.butter(
            4, [rng.uniform(150, 400), rng.uniform(3000, 4500)], "band", fs=16000, output="sos"
        )
        x = signal.sosfilt(sos, x)
    if rng.random() < 0.6:
        kind = str(rng.choice(["white", "pink", "brown"]))
        nz = noise(kind, len(x), np.random.RandomState(int(rng.integers(2**31))))
        snr = rng.uniform(5, 35)
        gain = np.sqrt(np.mean(x**2) / (np.mean(nz**2) + 1e-12) / 10 ** (snr / 10))
        x = x + nz * gain
    y = normalize_loudness(x.astype(np.float32), float(rng.uniform(-32, -16)))
    return np.clip(y, -1, 1).astype(np.float32)


def synthetic_clip(index: int, seed: int = 0) -> MotionClip:
    """One synthetic clip: 1-3 espeak-ng sentences with pauses, augmented, procedural head."""
    from avatar.motion.procedural import MotionControls, generate_motion
    from avatar.speech.closure_training import TRAIN_SENTENCES
    from avatar.speech.tts import synthesize

    rng = np.random.default_rng([seed, index])
    langs = list(LANG_WEIGHTS)
    p = np.array([LANG_WEIGHTS[k] for k in langs])
    lang = str(rng.choice(langs, p=p / p.sum()))
    pool = TRAIN_SENTENCES if lang == "en" else SENTENCES[lang]
    base = {"en": str(rng.choice(["en-us", "en", "en-gb-x-rp", "en-029"]))}.get(lang, lang)
    voice = base + str(rng.choice(VARIANTS))
    rate, pitch = int(rng.integers(130, 240)), int(rng.integers(20, 80))
    pieces, segments, t = [np.zeros(int(rng.uniform(0.1, 0.6) * 16000), np.float32)], [], 0.0
    t = len(pieces[0]) / 16000
    segments.append(PhoneSegment("SIL", 0.0, t))
    for _ in range(int(rng.integers(1, 4))):
        res = synthesize(str(rng.choice(pool)), voice=voice, rate=rate, pitch=pitch)
        for s in res.phones.segments:
            segments.append(PhoneSegment(s.phone, s.start + t, s.end + t))
        t += res.speech.duration
        pause = np.zeros(int(rng.uniform(0.15, 1.3) * 16000), np.float32)
        segments.append(PhoneSegment("SIL", t, t + len(pause) / 16000))
        t += len(pause) / 16000
        pieces += [res.speech.samples, pause]
    x = np.concatenate(pieces)
    exact = VisemeTrack(segments, "espeak", lang, t)
    speech = Speech(_augment(x, rng))
    n = int(np.floor(len(x) / 16000 * FPS))
    features = compute_features(speech, FPS, n)
    target = mouth_curves(exact, features, FPS, n, language=lang)
    heard = _perturb_phones(exact, rng)
    cond_mouth = mouth_curves(heard, features, FPS, n, language="en" if lang == "en" else lang)
    cond = condition_matrix(features, cond_mouth)
    controls = MotionControls(
        head_motion=float(rng.uniform(0.6, 1.6)),
        expression=float(rng.uniform(0.5, 1.5)),
        seed=int(rng.integers(2**31)),
    )
    motion = generate_motion(features, target, controls)
    channels = {c: motion[c] for c in MODEL_CHANNELS}
    return _assemble(
        f"synthetic-{seed}-{index}",
        "synthetic",
        channels,
        mouth_matrix(target, n),
        cond,
        set(MODEL_CHANNELS),
    )


# --------------------------------------------------------------------------- corpus


def default_cache_dir(data: str | os.PathLike[str] | None) -> Path:
    """Per-data-folder cache under ~/.cache (the data folder may be read-only)."""
    key = hashlib.sha1(str(Path(data).resolve() if data else "none").encode()).hexdigest()[:10]
    return Path.home() / ".cache" / "talking-avatar" / "motion" / key


def _cached(path: Path, make: Callable[[], MotionClip | None]) -> MotionClip | None:
    if path.exists():
        return MotionClip.load(path)
    clip = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    if clip is None:
        path.with_suffix(".skip").touch()
    else:
        tmp = path.with_name(path.stem + ".tmp.npz")
        clip.save(tmp)
        tmp.replace(path)
    return clip


def build_corpus(
    data: str | os.PathLike[str] | None,
    cache: str | os.PathLike[str] | None = None,
    *,
    n_synthetic: int = 400,
    seed: int = 0,
    limit: int | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: Callable[[str], None] | None = None,
) -> list[MotionClip]:
    """Every real clip under ``data`` plus ``n_synthetic`` synthetic ones, extracted once.

    ``shard=(k, m)`` processes every m-th item starting at k (parallel extraction).
    """
    root = Path(cache) if cache else default_cache_dir(data)
    say = progress or (lambda msg: None)
    clips: list[MotionClip] = []
    videos = find_videos(data) if data else []
    if limit is not None:
        videos = videos[:limit]
    items: list[tuple[Path, Callable[[], MotionClip | None]]] = []
    for v in videos:
        rel = v.relative_to(data).as_posix() if data else v.name
        key = rel.replace("/", "__").rsplit(".", 1)[0]
        items.append(
            (root / f"v{CACHE_VERSION}" / "real" / f"{key}.npz", lambda v=v: extract_real_clip(v))
        )
    for i in range(n_synthetic):
        items.append(
            (
                root / f"v{CACHE_VERSION}" / f"synthetic-{seed}" / f"{i:05d}.npz",
                lambda i=i: synthetic_clip(i, seed),
            )
        )
    k, m = shard
    for j, (path, make) in enumerate(items):
        if j % m != k or path.with_suffix(".skip").exists():
            continue
        clip = _cached(path, make)
        if clip is not None:
            clips.append(clip)
        if j % 200 == 0:
            say(f"{j + 1}/{len(items)} clips ready")
    return clips


def corpus_summary(clips: list[MotionClip]) -> dict:
    """Counts, frames and minutes per source, and the head amounts (for the model card)."""
    out: dict = {}
    for source in sorted({c.source for c in clips}):
        sel = [c for c in clips if c.source == source]
        frames = int(sum(c.n_frames for c in sel))
        amounts = np.array([c.head_amount for c in sel])
        out[source] = {
            "clips": len(sel),
            "frames": frames,
            "minutes": round(frames / FPS / 60.0, 2),
            "head_amount_deg_median": round(float(np.median(amounts)), 3),
        }
    return json.loads(json.dumps(out))
