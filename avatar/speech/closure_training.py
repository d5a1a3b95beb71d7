"""Retrain the lip-closure network that ships in ``weights/lip_closure``.

The network (``avatar.audio.features.closure_probability``) predicts, per 10 ms
hop, whether the lips are closed (p, b, m). This module is the whole recipe:

1. **Label** audio per hop: a hop is 1 inside a P/B/M phone, else 0.
   - GRID-style clips (``*.mpg``/audio with a ``.align`` word alignment, either
     ``<stem>.align`` beside the clip or ``align/<stem>.align``): the words of
     the alignment are force-aligned to phones (``recognize_phones``); clips
     whose alignment fails are dropped.
   - Extra ``(audio, transcript)`` pairs are labelled the same way.
   - espeak-ng sentences (``TRAIN_SENTENCES`` x ``VOICES`` x ``RATES``): the
     phoneme events give exact phones; for P/B the closure is the quiet stretch
     just before the release (up to 150 ms back), M is its whole segment.
2. **Augment**: each clip is kept clean and, with probability 0.6, also as a
   copy with white, pink, brown or babble noise at 0-20 dB SNR.
3. **Featurise** with ``closure_features`` (exactly what inference uses).
4. **Fit** a ``Linear -> tanh -> Linear`` MLP with Adam (lr 3e-3, weight
   decay 1e-4, batches of 2048, binary cross-entropy), deterministic for a seed.
5. **Export** float16 tensors + ``config.json`` (``export_model``).

Clips matched by a ``holdout`` pattern (and the espeak voices in
``HOLDOUT_VOICES``) are featurised but not trained on; their frame AUC is
reported. The shipped model held out every GRID speaker but s1::

    avatar train-closure --data ../shared/data/videos_train --out weights/lip_closure \\
        --holdout 'grid_lipnet_samples/*' --holdout 'grid_avsi_drpato/*' \\
        --holdout 'grid_lip2speech_zhongping/*' \\
        --extra ../shared/data/speech/en_male_jfk_inaugural_1961.flac jfk.txt \\
        --extra ../shared/data/speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac lj.txt

Needs ``torch`` and ``safetensors`` (``pip install -e .[train]``) and, for the
synthetic sentences, the espeak-ng shared library.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.ndimage import maximum_filter1d

from avatar.audio.decode import load_audio
from avatar.audio.features import (
    _CLOSURE_HIDDEN,
    _CLOSURE_OFFSETS,
    closure_config,
    closure_features,
    compute_features,
)
from avatar.audio.speech import Speech
from avatar.speech.espeak import espeak_available, synthesize_raw
from avatar.speech.phones import phones_from_espeak_events, recognize_phones
from avatar.speech.visemes import BILABIALS

log = logging.getLogger(__name__)

SR = 16000
HOP = 160  # samples per 10 ms hop at 16 kHz
GRID_FRAME_UNITS = 25000.0  # .align times are 1/1000 of a 25 fps video frame
ALIGN_SKIP = frozenset({"sil", "sp"})
CLIP_SUFFIXES = (".mpg", ".mp4", ".wav", ".flac", ".ogg", ".mp3")

VOICES = (
    "en-us+f2",
    "en-us+m3",
    "en+f4",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-us+Andy",
    "en+Annie",
    "en-029",
    "en-us+f3",
    "en+m7",
)
HOLDOUT_VOICES = ("en+m7", "en-us+f3")
RATES = (140, 170, 200)
NOISE_KINDS = ("white", "pink", "brown", "babble")

TRAIN_SENTENCES = """\
The boy put the bread in the basket before lunch.
Please bring me my umbrella when it begins to rain.
A big brown bear was sleeping by the tall pine tree.
We met him at the market on Monday morning.
Every member of the team played a part in the victory.
Paul wrote a poem about the moon and the summer sky.
The museum opens at nine and closes at five.
She bought a pair of blue shoes for the wedding.
My mother makes the best apple pie in the world.
The baby smiled when the puppy jumped on the bed.
Bring the map and the compass, we might get lost.
He pumped up the tires of his bike before the trip.
The company plans to build a new plant by the river.
Put the butter back into the fridge, please.
I remember the time we went camping in the mountains.
Nobody knew the number of people in the room.
The problem was simple, but the answer took ages.
Don't forget to lock the back door when you leave.
The ship sailed past the harbour at midnight.
Bob and Pam went shopping for a lamp and a rug.
This machine can print a hundred pages per minute.
The rabbit hopped across the lawn and under the hedge.
Maybe we could meet for a coffee tomorrow afternoon.
The painter mixed blue and purple to make a deep colour.
My brother plays the drums in a small jazz band.
Grab a cab and come to my place as soon as possible.
I think the film was better than the book.
The temperature dropped below zero last night.
We sat by the window and watched the people pass by.
Pack your bags, the bus leaves at seven sharp.
The farmer keeps sheep, cows and a few pigs.
A warm bath helps me relax after a long day.
The bank will be open until five on Friday.
Amber picked up a pebble from the beach.
The lamp above the table began to flicker.
Mark spilled some milk on the map of Europe.
I hope the weather stays calm for the boat race.
Bananas and mangoes grow best in a tropical climate.
The mob broke through the gate and ran up the steps.
Peaceful protests happened in both capitals.
It is a matter of public interest and of basic fairness.
My friend bought a cheap blue bicycle in March.
Please remember to bring a pen and some paper.
The boat moved slowly along the muddy bank.
We must keep moving or we will miss the bus.
A small bird sang from the top of the maple tree.
The pilot kept the plane steady through the storm.
The baker baked a batch of bagels before dawn.
Mum made a pot of bean soup with bacon bits.
Big problems seldom have simple solutions.
She combed her hair and put on a bit of make up.
The players clapped as the umpire left the pitch.
Imagine a map with a thousand tiny maps inside it.
Bill hopes to become a member of the club.
The prime minister promised better public transport.
Wipe the table and bring the plates to the kitchen.
The pump stopped working in the middle of the night.
He bumped his elbow on the cupboard door.
Most people prefer the beach to the mountains in summer.
A bumble bee buzzed above the pink blossoms.
Robert paid for the tickets with a big bundle of bills.
The campus is empty during the spring break.
Emma baked a plum cake for the family party.
Old maps are beautiful but not very precise.
The mayor made a speech about employment and budgets.
Sometimes the simplest plan is the best plan.
Put a bit more pepper in the stew, it is bland.
The lamb stood by its mother in the meadow.
Two hundred boxes were shipped by plane to Bombay.
Harry never liked the smell of burnt popcorn.
Could you pass me the bottle of lemonade?
The parade moved up the main street at noon.
Birds build their nests in the spring.
Bees make honey from the pollen of many flowers.
I promise I will be back before the movie begins.
The boss submitted the report by the deadline.
A thick fog rolled over the bay at dawn.
Ben rubbed his palms to keep them warm.
The maple leaves turned bright amber in autumn.
Umbrellas were bobbing above the crowd in the rain.""".splitlines()


@dataclass
class LabelledClip:
    """16 kHz audio and its per-hop closure labels (1 = lips closed)."""

    source: str  # "grid", "extra" or "espeak"
    name: str
    samples: np.ndarray
    labels: np.ndarray
    heldout: bool = False


@dataclass
class Dataset:
    """Stacked closure-network inputs ``x`` (n, d), labels ``y`` (n,) and the train mask."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    names: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- labelling


def n_hops(n_samples: int) -> int:
    return int(np.ceil(n_samples / HOP))


def read_align(path: str | os.PathLike[str]) -> list[tuple[float, float, str]]:
    """A GRID ``.align`` file as ``(start_s, end_s, word)`` rows."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append(
                (float(parts[0]) / GRID_FRAME_UNITS, float(parts[1]) / GRID_FRAME_UNITS, parts[2])
            )
    return rows


def align_transcript(path: str | os.PathLike[str]) -> str:
    """The spoken words of a ``.align`` file (silences dropped)."""
    return " ".join(w for _, _, w in read_align(path) if w.lower() not in ALIGN_SKIP)


def find_aligned_clips(folder: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """``(clip, .align)`` pairs under ``folder``: ``<stem>.align`` beside the clip or in ``align/``."""
    out = []
    for clip in sorted(Path(folder).rglob("*")):
        if clip.suffix.lower() not in CLIP_SUFFIXES or not clip.is_file():
            continue
        for cand in (clip.with_suffix(".align"), clip.parent / "align" / f"{clip.stem}.align"):
            if cand.is_file():
                out.append((clip, cand))
                break
    return out


def load_16k(path: str | os.PathLike[str]) -> np.ndarray:
    """Decoded, loudness-normalised (-20 LUFS) 16 kHz mono samples."""
    speech = load_audio(path)
    return _resample_16k(speech.samples, speech.sample_rate)


def _resample_16k(x: np.ndarray, sr: int) -> np.ndarray:
    x = np.asarray(x, np.float32).reshape(-1)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        x = signal.resample_poly(x, SR // g, int(sr) // g).astype(np.float32)
    return x


def normalize_loudness(x: np.ndarray, target_lufs: float = -20.0) -> np.ndarray:
    """Scale to ``target_lufs`` integrated loudness (unchanged if silent)."""
    import pyloudnorm

    loud = pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64))
    if not np.isfinite(loud):
        return np.asarray(x, np.float32)
    return (x * 10 ** ((target_lufs - loud) / 20)).astype(np.float32)


def phone_labels(n_samples: int, track) -> np.ndarray:
    """1 for every hop inside a bilabial (P/B/M) phone of ``track``."""
    n = n_hops(n_samples)
    lab = np.zeros(n, np.float32)
    for s in track.segments:
        if s.phone in BILABIALS:
            lab[int(round(s.start * 100)) : int(round(s.end * 100))] = 1
    return lab


def hop_db(x: np.ndarray) -> np.ndarray:
    n = n_hops(len(x))
    xx = np.pad(np.asarray(x, np.float64), (0, n * HOP - len(x)))
    return 10 * np.log10(np.mean(xx.reshape(n, HOP) ** 2, axis=1) + 1e-10)


def espeak_labels(x: np.ndarray, track) -> np.ndarray:
    """Closure labels from espeak phoneme events.

    espeak's P/B event marks the release, so the closure is the stretch of
    hops 12 dB below the local (310 ms) maximum that touches the event, up to
    150 ms back (at least 50 ms around the event). M is closed throughout.
    """
    n = n_hops(len(x))
    lab = np.zeros(n, np.float32)
    db = hop_db(x)
    low = db < maximum_filter1d(db, 31) - 12
    for s in track.segments:
        a, b = int(round(s.start * 100)), int(round(s.end * 100))
        if s.phone == "M":
            lab[a:b] = 1
        elif s.phone in ("P", "B"):
            k = a
            while k > 0 and a - k < 15 and low[k - 1]:
                k -= 1
            e = a
            while e < min(b, n) and low[e]:
                e += 1
            lo, hi = k, max(e, a) + 1
            if hi - lo < 3:
                lo, hi = a - 3, a + 2
            lab[max(0, lo) : min(n, hi)] = 1
    return lab


def label_transcribed(samples: np.ndarray, transcript: str) -> np.ndarray | None:
    """Forced-alignment labels, or None when the alignment fails."""
    track = recognize_phones(Speech(samples), transcript)
    if track.source != "alignment":
        return None
    return phone_labels(len(samples), track)


# --------------------------------------------------------------------------- espeak-ng
# (synthesis lives in avatar.speech.espeak)


def espeak_clips(
    sentences: Sequence[str] = TRAIN_SENTENCES,
    voices: Sequence[str] = VOICES,
    rates: Sequence[int] = RATES,
    every: int = 3,
) -> list[LabelledClip]:
    """Synthetic labelled sentences: one in ``every`` (sentence, voice, rate) combination."""
    out = []
    for vi, voice in enumerate(voices):
        for ri, rate in enumerate(rates):
            for si, sentence in enumerate(sentences):
                if (si + ri + vi) % every:
                    continue
                x, sr, events = synthesize_raw(sentence, voice, rate)
                if len(x) == 0:
                    continue
                track = phones_from_espeak_events(events, len(x) / sr)
                x16 = normalize_loudness(_resample_16k(x, sr))
                out.append(
                    LabelledClip(
                        "espeak",
                        f"{voice}/{rate}/{si}",
                        x16,
                        espeak_labels(x16, track),
                        heldout=voice in HOLDOUT_VOICES,
                    )
                )
    return out


# --------------------------------------------------------------------------- dataset


def labelled_clips(
    data: str | os.PathLike[str] | None,
    *,
    extra: Iterable[tuple[str | os.PathLike[str], str]] = (),
    holdout: Sequence[str] = (),
    espeak: bool = True,
    limit: int | None = None,
) -> list[LabelledClip]:
    """Label the aligned clips under ``data`` (at most ``limit``), ``extra`` and espeak sentences.

    ``holdout`` are ``fnmatch`` patterns on the clip path relative to ``data``.
    """
    clips: list[LabelledClip] = []
    if espeak:
        if espeak_available():
            clips += espeak_clips()
        else:
            log.warning("espeak-ng is not installed: no synthetic sentences")
    if data is not None:
        root = Path(data)
        pairs = find_aligned_clips(root)[:limit] if limit else find_aligned_clips(root)
        for clip, align in pairs:
            rel = clip.relative_to(root).as_posix()
            x = load_16k(clip)
            lab = label_transcribed(x, align_transcript(align))
            if lab is None:
                log.info("%s: forced alignment failed, skipped", rel)
                continue
            held = any(fnmatch.fnmatch(rel, p) for p in holdout)
            clips.append(LabelledClip("grid", rel, x, lab, heldout=held))
    for path, transcript in extra:
        x = load_16k(path)
        lab = label_transcribed(x, transcript)
        if lab is None:
            log.warning("%s: forced alignment failed, skipped", path)
            continue
        clips.append(LabelledClip("extra", Path(path).name, x, lab))
    return clips


def noise(kind: str, n: int, rng: np.random.RandomState, pool: Sequence[np.ndarray] = ()):
    """``n`` samples of white, pink (1/f), brown (1/f^2) or babble (4 random clips) noise."""
    if kind == "babble" and pool:
        out = np.zeros(n, np.float32)
        for _ in range(4):
            y = np.resize(pool[rng.randint(len(pool))], n)
            out += np.roll(y, rng.randint(n))
        return out
    w = rng.randn(n).astype(np.float32)
    if kind in ("white", "babble"):
        return w
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    spec /= np.sqrt(f) if kind == "pink" else f
    return np.fft.irfft(spec, n).astype(np.float32)


def augment(
    clips: Sequence[LabelledClip], rng: np.random.RandomState, p_noisy: float = 0.6
) -> list[tuple[LabelledClip, np.ndarray]]:
    """Each clip as ``(clip, samples)``, plus a noisy copy (0-20 dB SNR) with probability ``p``."""
    pool = [c.samples for c in clips]
    out = []
    for c in clips:
        out.append((c, c.samples))
        if rng.rand() < p_noisy:
            kind = NOISE_KINDS[rng.randint(len(NOISE_KINDS))]
            nz = noise(kind, len(c.samples), rng, pool)
            snr = rng.uniform(0, 20)
            gain = np.sqrt(np.mean(c.samples**2) / (np.mean(nz**2) + 1e-12) / 10 ** (snr / 10))
            out.append((c, normalize_loudness((c.samples + nz * gain).astype(np.float32))))
    return out


def clip_features(samples: np.ndarray, offsets=_CLOSURE_OFFSETS) -> np.ndarray:
    """The closure network's input for 16 kHz ``samples``, one row per 10 ms hop."""
    h = compute_features(Speech(samples), 25, 10).hires
    return closure_features(h.mfcc, h.rms_db, h.peak_db, h.periodicity, offsets).astype(np.float32)


def build_dataset(
    clips: Sequence[LabelledClip], seed: int = 1, p_noisy: float = 0.6, offsets=_CLOSURE_OFFSETS
) -> Dataset:
    """Augment and featurise ``clips``; held-out clips are kept but masked out of training."""
    rng = np.random.RandomState(seed)
    xs, ys, train, names = [], [], [], []
    for clip, samples in augment(clips, rng, p_noisy):
        f = clip_features(samples, offsets)
        n = min(len(f), len(clip.labels))
        xs.append(f[:n])
        ys.append(clip.labels[:n])
        train.append(np.full(n, not clip.heldout))
        names.append(clip.name)
    if not xs:
        raise ValueError("no labelled clips")
    return Dataset(np.concatenate(xs), np.concatenate(ys), np.concatenate(train), names)


# --------------------------------------------------------------------------- fit / export


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic); NaN when a class is missing."""
    pos = y > 0.5
    if pos.all() or not pos.any():
        return float("nan")
    r = np.empty(len(p))
    r[np.argsort(p, kind="stable")] = np.arange(len(p))
    return float((r[pos].mean() - (pos.sum() - 1) / 2) / (~pos).sum())


def fit(
    data: Dataset,
    hidden: int = _CLOSURE_HIDDEN,
    epochs: int = 30,
    seed: int = 0,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch: int = 2048,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, np.ndarray]:
    """Train the MLP on ``data.train`` rows; float32 tensors named as in ``model.safetensors``."""
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(data.x[data.train], np.float32))
    y = torch.from_numpy(np.ascontiguousarray(data.y[data.train], np.float32))
    if len(x) == 0:
        raise ValueError("no training rows (everything held out?)")
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
    )
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=weight_decay)
    loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    for ep in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            b = perm[i : i + batch]
            loss = loss_fn(model(x[b]).squeeze(1), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        if progress is not None:
            progress(ep, total / len(x))
    lin1, lin2 = model[0], model[2]
    return {
        "hidden.weight": lin1.weight.detach().numpy().copy(),
        "hidden.bias": lin1.bias.detach().numpy().copy(),
        "output.weight": lin2.weight.detach().numpy().copy(),
        "output.bias": lin2.bias.detach().numpy().copy(),
    }


def predict(tensors: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """P(closed) for feature rows ``x`` with the float16-rounded ``tensors`` (as shipped)."""
    t = {k: v.astype(np.float16).astype(np.float64) for k, v in tensors.items()}
    z = np.tanh(x @ t["hidden.weight"].T + t["hidden.bias"]) @ t["output.weight"][0]
    return 1.0 / (1.0 + np.exp(-(z + t["output.bias"][0])))


def export_model(
    tensors: dict[str, np.ndarray],
    out: str | os.PathLike[str],
    offsets=_CLOSURE_OFFSETS,
    training: dict | None = None,
) -> Path:
    """Write ``model.safetensors`` (float16) and ``config.json`` to ``out``."""
    from safetensors.numpy import save_file

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    hidden = int(tensors["hidden.weight"].shape[0])
    half = {k: np.ascontiguousarray(v, np.float16) for k, v in tensors.items()}
    save_file(half, str(folder / "model.safetensors"), metadata={"format": "np"})
    config = closure_config(offsets, hidden)
    if training:
        config["training"] = training
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def train_closure(
    data: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    epochs: int = 30,
    hidden: int = _CLOSURE_HIDDEN,
    extra: Iterable[tuple[str | os.PathLike[str], str]] = (),
    holdout: Sequence[str] = (),
    espeak: bool = True,
    limit: int | None = None,
) -> dict:
    """The whole recipe: label, augment, featurise, fit, export. Returns the training summary."""
    clips = labelled_clips(data, extra=extra, holdout=holdout, espeak=espeak, limit=limit)
    log.info("%d labelled clips (%d held out)", len(clips), sum(c.heldout for c in clips))
    ds = build_dataset(clips, seed=seed + 1)
    tensors = fit(
        ds,
        hidden=hidden,
        epochs=epochs,
        seed=seed,
        progress=lambda ep, loss: log.info("epoch %d: loss %.4f", ep + 1, loss),
    )
    p = predict(tensors, ds.x.astype(np.float64))
    summary = {
        "seed": seed,
        "epochs": epochs,
        "clips": len(clips),
        "train_frames": int(ds.train.sum()),
        "heldout_frames": int((~ds.train).sum()),
        "train_auc": round(auc(p[ds.train], ds.y[ds.train]), 4),
        "heldout_auc": round(auc(p[~ds.train], ds.y[~ds.train]), 4),
        "holdout": list(holdout),
    }
    export_model(tensors, out, training=summary)
    return summary
