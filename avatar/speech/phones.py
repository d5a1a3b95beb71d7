"""Timed phones from audio: pocketsphinx phone recognition or forced alignment.

Without a transcript the en-us acoustic model decodes phones with its phonetic
language model ("allphone" search, 10 ms frames). With a transcript the words
are force-aligned, which gives far better phone timings. Long audio is cut at
its quietest points into chunks of at most ~25 s, because the decoder's cost
and its failure modes both grow with utterance length.

TTS phoneme events from espeak-ng map onto the same rows
(``phones_from_espeak_events``), so synthetic speech needs no recogniser.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import signal

from avatar.audio.speech import Speech
from avatar.speech.visemes import ARPABET, NOISE, SILENCE, PhoneSegment, VisemeTrack

log = logging.getLogger(__name__)

FRAME_RATE = 100  # pocketsphinx frames per second
MAX_CHUNK_S = 25.0  # longest utterance handed to the decoder at once
MIN_CHUNK_S = 8.0
PARALLEL_MIN_S = 90.0  # longer audio is decoded in two processes

# Allphone search settings, tuned on espeak-ng sentences with exact timings and on
# forced alignments of GRID and VCTK speech: a language weight of 2 (default 6.5)
# keeps more of the short consonants, p/b/m among them; scoring only the best
# Gaussian per codebook (topn 1, default 4) is 25 % faster and no worse there.
ALLPHONE_CONFIG = {
    "lw": 2.0,
    "beam": 1e-40,
    "pbeam": 1e-40,
    "topn": 1,
}

_lock = threading.Lock()
_decoders: dict[str, object] = {}


# --------------------------------------------------------------------------- public


def recognize_phones(
    speech: Speech,
    transcript: str | None = None,
    language: str = "en",
    *,
    workers: int | None = None,
) -> VisemeTrack:
    """Timed ARPAbet phones for ``speech``.

    With an English ``transcript`` the words are force-aligned (source
    ``alignment``); otherwise, or if alignment fails, phones are recognised
    (source ``allphone``). The en-us model is used for every language: its
    phones are a serviceable approximation elsewhere, and the mouth blends in
    acoustic cues when ``language`` is not English. ``workers`` > 1 decodes
    the chunks of long audio in that many processes (default: 2 for audio
    over ``PARALLEL_MIN_S`` on a machine with 2+ cores, else 1).
    """
    x = _to_16k(speech)
    duration = len(x) / 16000.0
    lang = (language or "en").lower()
    if duration < 0.05 or not np.any(np.abs(x) > 1e-4):
        segs = [PhoneSegment(SILENCE, 0.0, duration)] if duration > 0 else []
        return VisemeTrack(segs, "allphone", lang, duration, confidence=1.0)
    if transcript and transcript.strip() and lang.startswith("en"):
        for kind in ("align", "align_wide"):
            try:
                track = _align(x, transcript, lang, kind)
            except RuntimeError as exc:  # pocketsphinx raises RuntimeError on bad input
                log.info("forced alignment (%s) failed: %s", kind, exc)
                track = None
            if track is not None:
                return track
        log.warning("forced alignment failed; recognising phones instead")
    return _allphone(x, lang, workers)


def phones_from_espeak_events(
    events: Iterable[Sequence] | Iterable[dict],
    duration: float | None = None,
    language: str = "en",
) -> VisemeTrack:
    """Map espeak-ng phoneme events to a ``VisemeTrack`` (source ``espeak``).

    ``events`` are ``(time_seconds, mnemonic)`` pairs or dicts with ``time``
    (seconds) or ``audio_position`` (ms) and ``name``/``phoneme``, in the
    order espeak-ng emits them (``espeakEVENT_PHONEME``). Each phone lasts
    until the next event; the last one until ``duration`` (or 80 ms).
    """
    rows: list[tuple[float, str]] = []
    for ev in events:
        if isinstance(ev, dict):
            t = ev.get("time")
            if t is None:
                t = float(ev["audio_position"]) / 1000.0
            name = ev.get("name", ev.get("phoneme", ""))
        else:
            t, name = ev[0], ev[1]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        rows.append((float(t), str(name)))
    rows.sort(key=lambda r: r[0])
    segs: list[PhoneSegment] = []
    for i, (t, name) in enumerate(rows):
        end = rows[i + 1][0] if i + 1 < len(rows) else (duration if duration else t + 0.08)
        if end <= t:
            continue
        phone, reduced, stress = espeak_to_arpabet(name, language)
        if phone is None:
            continue
        if phone == "@L":  # syllabic l: schwa then l
            mid = t + 0.4 * (end - t)
            segs.append(PhoneSegment("AH", t, mid, label=name, reduced=True, stress=stress))
            segs.append(PhoneSegment("L", mid, end, label=name))
            continue
        segs.append(PhoneSegment(phone, t, end, label=name, reduced=reduced, stress=stress))
    if rows and rows[0][0] > 0:
        segs.insert(0, PhoneSegment(SILENCE, 0.0, rows[0][0], label="_"))
    segs = _merge_silence(segs)
    dur = duration if duration is not None else (segs[-1].end if segs else 0.0)
    return VisemeTrack(segs, "espeak", language, dur, confidence=1.0)


# --------------------------------------------------------------------------- espeak mnemonics

# visemes.md §2, en / en-us. Values: (ARPAbet, reduced schwa?)
_ESPEAK_EN: dict[str, tuple[str, bool]] = {}


def _put(phone: str, names: str, reduced: bool = False) -> None:
    for n in names.split():
        _ESPEAK_EN[n] = (phone, reduced)


_put(SILENCE, "_ _: _! _^_ _#")
_put("P", "p")
_put("B", "b")
_put("M", "m m-")
_put("F", "f")
_put("V", "v")
_put("TH", "T")
_put("DH", "D")
_put("T", "t t2 t# ?")
_put("D", "d d#")
_put("N", "n n-")
_put("S", "s")
_put("Z", "z z# z/2")
_put("SH", "S")
_put("ZH", "Z")
_put("CH", "tS")
_put("JH", "dZ")
_put("K", "k")
_put("G", "g")
_put("NG", "N N-")
_put("L", "l l/ l/2 l/3")
_put("R", "r r- r/")
_put("W", "w w#")
_put("Y", "j")
_put("HH", "h")
_put("IY", "i: i")
_put("IH", "I I2 I# I2#")
_put("EY", "eI")
_put("EH", "E E2 E# e# e@")
_put("AE", "a a2 aa")
_put("AH", "V 02")
_put("AH", "@ @2 @5 @# a#", reduced=True)
_put("ER", "3: IR VR 3")
_put("AA", "A: A@ A# 0")
_put("AO", "O: O O@ o@ O2")
_put("OW", "oU oU#")
_put("UH", "U U@")
_put("UW", "u:")
_put("AY", "aI aI@ aI3")
_put("AW", "aU aU@")
_put("OY", "OI")
_put("IH", "i@ i@3")

# Plain vowel and consonant letters of other espeak-ng voices (es, it, ja, cmn...).
_ESPEAK_GENERIC: dict[str, str] = {
    "a": "AA",
    "e": "EH",
    "i": "IY",
    "o": "OW",
    "u": "UW",
    "y": "IY",
    "B": "V",  # Spanish approximant b
    "x": "HH",
    "J": "N",
    "L": "L",
    "ts": "S",
    "dz": "Z",
    "tS": "CH",
    "ts.": "CH",
    "s.": "SH",
    "z.": "ZH",
    "Q": "D",
    "rr": "R",
}


def espeak_to_arpabet(name: str, language: str = "en") -> tuple[str | None, bool, int | None]:
    """(ARPAbet, is_schwa, stress) for one espeak-ng mnemonic; ARPAbet ``None`` to skip it."""
    stress: int | None = 0
    s = name.strip()
    if s and s[0] in ",'ˌˈ":
        stress = 2 if s[0] in "'ˈ" else 1
        s = s[1:]
    if not s:
        return None, False, None
    if s == "@L":
        return "@L", True, stress
    en = language.lower().startswith("en")
    if en and s in _ESPEAK_EN:
        ph, red = _ESPEAK_EN[s]
        return ph, red, stress
    if not en and s in _ESPEAK_GENERIC:
        return _ESPEAK_GENERIC[s], False, stress
    if s in _ESPEAK_EN:
        ph, red = _ESPEAK_EN[s]
        return ph, red, stress
    base = re.sub(r"[#/0-9\-:;.^]+$", "", s) or s[0]
    for table in (_ESPEAK_GENERIC, {k: v[0] for k, v in _ESPEAK_EN.items()}):
        if base in table:
            return table[base], False, stress
    if base[0] in "aeiouAEIOU@V3":
        return "AH", True, stress
    if base[0] == "_":
        return SILENCE, False, None
    return "T", False, stress  # unknown consonant: a neutral tongue consonant


# --------------------------------------------------------------------------- decoding


def _to_16k(speech: Speech) -> np.ndarray:
    x = np.asarray(speech.samples, np.float32).reshape(-1)
    sr = int(speech.sample_rate)
    if sr != 16000:
        g = np.gcd(sr, 16000)
        x = signal.resample_poly(x, 16000 // g, sr // g).astype(np.float32)
    return np.nan_to_num(x)


def _pcm(x: np.ndarray) -> bytes:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    gain = 1.0 if peak < 1.0 else 0.99 / peak
    return (np.clip(x * gain, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _model_dir() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


def _decoder(kind: str):
    """A cached decoder per search kind (building one reads the model: ~0.15 s)."""
    if kind in _decoders:
        return _decoders[kind]
    from pocketsphinx import Decoder

    md = _model_dir()
    common = {"hmm": str(md / "en-us"), "loglevel": "FATAL", "samprate": 16000}
    if kind == "allphone":
        dec = Decoder(
            allphone=str(md / "en-us-phone.lm.bin"),
            lm=None,
            dict=str(md / "cmudict-en-us.dict"),
            **ALLPHONE_CONFIG,
            **common,
        )
    else:
        # bestpath off: its rescoring can hand the state aligner impossible phone durations
        # "align_wide" retries with wide beams: the defaults lose the alignment in loud noise.
        wide = {"beam": 1e-60, "pbeam": 1e-60, "wbeam": 1e-48} if kind == "align_wide" else {}
        dec = Decoder(
            lm=None, dict=str(md / "cmudict-en-us.dict"), bestpath=False, **wide, **common
        )
    _decoders[kind] = dec
    return dec


def _frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // 160
    if n == 0:
        return np.zeros(0)
    ms = np.mean(x[: n * 160].reshape(n, 160).astype(np.float64) ** 2, axis=1)
    return 10.0 * np.log10(ms + 1e-10)


def split_points(
    x: np.ndarray, max_s: float = MAX_CHUNK_S, min_s: float = MIN_CHUNK_S
) -> list[int]:
    """Sample indices that cut ``x`` into chunks ≤ ``max_s`` at the quietest 200 ms windows."""
    n = len(x)
    if n <= max_s * 16000:
        return [0, n]
    db = _frame_db(x)
    quiet = np.convolve(db, np.ones(20) / 20.0, mode="same")
    cuts = [0]
    pos = 0  # in 10 ms frames
    total = len(db)
    while total - pos > max_s * 100:
        lo = pos + int(min_s * 100)
        hi = pos + int(max_s * 100)
        k = lo + int(np.argmin(quiet[lo:hi]))
        cuts.append(k * 160)
        pos = k
    cuts.append(n)
    return cuts


def _decode_chunk(pcm: bytes) -> list[tuple[str, int, int]]:
    """Allphone-decode one chunk: (phone, start frame, end frame inclusive) rows."""
    with _lock:
        dec = _decoder("allphone")
        dec.reinit_feat()  # fresh feature state (CMN, noise): same chunk, same phones
        dec.start_utt()
        dec.process_raw(pcm, no_search=False, full_utt=True)
        dec.end_utt()
        return [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]


def _allphone(x: np.ndarray, lang: str, workers: int | None = None) -> VisemeTrack:
    duration = len(x) / 16000.0
    cuts = split_points(x)
    chunks = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b - a >= 160]
    if workers is None:
        workers = 2 if duration > PARALLEL_MIN_S and (os.cpu_count() or 1) >= 2 else 1
    pcms = [_pcm(x[a:b]) for a, b in chunks]
    rows = None
    if workers > 1 and len(chunks) > 1:
        rows = _decode_parallel(pcms, workers)
    if rows is None:
        rows = [_decode_chunk(p) for p in pcms]
    segs: list[PhoneSegment] = []
    for (a, _), chunk_rows in zip(chunks, rows):
        segs.extend(_segments_from_rows(chunk_rows, a / 16000.0))
    segs = _tidy(segs, duration)
    return VisemeTrack(segs, "allphone", lang, duration)


def _decode_parallel(pcms: list[bytes], workers: int) -> list | None:
    """Decode the later chunks in helper processes while this one decodes the first ones.

    The helpers are plain ``python -c`` subprocesses (not multiprocessing), so
    they work whatever the caller's ``__main__`` is. ``None`` if they fail.
    """
    import json
    import subprocess
    import sys
    import tempfile

    n_help = max(1, min(workers, len(pcms)) - 1)
    sizes = np.cumsum([len(p) for p in pcms])
    share = sizes[-1] / (n_help + 1)
    owner = np.minimum((sizes - 1) // share, n_help).astype(int)  # 0 = this process
    pkg_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
    code = "import sys; from avatar.speech.phones import _worker_main; _worker_main(sys.argv[1:])"
    results: list = [None] * len(pcms)
    with tempfile.TemporaryDirectory(prefix="avatar-phones-") as tmp:
        procs = []
        for w in range(1, n_help + 1):
            paths = []
            for i in np.flatnonzero(owner == w):
                path = os.path.join(tmp, f"chunk{i}.raw")
                with open(path, "wb") as fh:
                    fh.write(pcms[i])
                paths.append(path)
            if paths:
                cmd = [sys.executable, "-c", code, *paths]
                procs.append(
                    (
                        w,
                        subprocess.Popen(
                            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
                        ),
                    )
                )
        for i in np.flatnonzero(owner == 0):
            results[i] = _decode_chunk(pcms[i])
        ok = True
        for w, proc in procs:
            try:
                out, _ = proc.communicate(timeout=600)
                rows = json.loads(out.decode()) if proc.returncode == 0 else None
            except Exception:  # noqa: BLE001 - any failure means: decode here instead
                proc.kill()
                rows = None
            idx = np.flatnonzero(owner == w)
            if rows is None or len(rows) != len(idx):
                ok = False
                continue
            for i, r in zip(idx, rows):
                results[i] = [tuple(x) for x in r]
        if not ok:
            log.info("phone decoding helper failed; decoding its chunks here")
    for i, r in enumerate(results):
        if r is None:
            results[i] = _decode_chunk(pcms[i])
    return results


def _worker_main(paths: list[str]) -> None:
    """Entry point of a helper process: decode raw PCM files, print JSON rows."""
    import json
    import sys

    out = []
    for path in paths:
        with open(path, "rb") as fh:
            out.append(_decode_chunk(fh.read()))
    sys.stdout.write(json.dumps(out))


def _segments_from_rows(rows: list[tuple[str, int, int]], offset: float) -> list[PhoneSegment]:
    out = []
    for word, sf, ef in rows:
        name = re.sub(r"\(\d+\)$", "", word.upper())
        if name in ("<S>", "</S>", "<SIL>"):
            name = SILENCE
        if name not in ARPABET and name not in NOISE and name != SILENCE:
            name = SILENCE if name.startswith("<") else "+NSN+"
        start = offset + sf / FRAME_RATE
        end = offset + (ef + 1) / FRAME_RATE
        out.append(PhoneSegment(name, start, end, label=word))
    return out


def _tidy(segs: list[PhoneSegment], duration: float) -> list[PhoneSegment]:
    """Sort, clip to the audio, fill gaps with silence and merge adjacent silences."""
    segs = sorted(segs, key=lambda s: s.start)
    out: list[PhoneSegment] = []
    t = 0.0
    for s in segs:
        s.start = max(s.start, t)
        s.end = min(s.end, duration)
        if s.end <= s.start:
            continue
        if s.start > t + 1e-6:
            out.append(PhoneSegment(SILENCE, t, s.start))
        out.append(s)
        t = s.end
    if duration > t + 1e-6:
        out.append(PhoneSegment(SILENCE, t, duration))
    return _merge_silence(out)


def _merge_silence(segs: list[PhoneSegment]) -> list[PhoneSegment]:
    out: list[PhoneSegment] = []
    for s in segs:
        if out and s.phone == SILENCE and out[-1].phone == SILENCE:
            out[-1].end = s.end
        else:
            out.append(s)
    return out


# --------------------------------------------------------------------------- alignment

_NUM_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_NUM_WORDS[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_NUM_WORDS[n % 10]] if n % 10 else [])
    if n < 1000:
        rest = _number_words(n % 100) if n % 100 else []
        return [_NUM_WORDS[n // 100], "hundred"] + rest
    if n < 1_000_000:
        rest = _number_words(n % 1000) if n % 1000 else []
        return _number_words(n // 1000) + ["thousand"] + rest
    return [str(n)]


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words for the dictionary: digits spelled out, punctuation dropped."""
    text = text.lower().replace("’", "'")
    words: list[str] = []
    for tok in re.findall(r"[a-z']+|\d+", text):
        if tok.isdigit():
            words.extend(_number_words(int(tok)))
        else:
            tok = tok.strip("'")
            if tok:
                words.append(tok)
    return words


# Crude letter-to-sound rules for words missing from CMUdict (names, coinages).
_G2P_RULES = [
    ("tch", "CH"),
    ("sch", "S K"),
    ("ch", "CH"),
    ("sh", "SH"),
    ("th", "TH"),
    ("ph", "F"),
    ("wh", "W"),
    ("ng", "NG"),
    ("ck", "K"),
    ("qu", "K W"),
    ("gh", ""),
    ("ee", "IY"),
    ("ea", "IY"),
    ("oo", "UW"),
    ("ou", "AW"),
    ("ow", "OW"),
    ("oi", "OY"),
    ("oy", "OY"),
    ("ai", "EY"),
    ("ay", "EY"),
    ("au", "AO"),
    ("aw", "AO"),
    ("ie", "IY"),
    ("ei", "EY"),
    ("a", "AE"),
    ("b", "B"),
    ("c", "K"),
    ("d", "D"),
    ("e", "EH"),
    ("f", "F"),
    ("g", "G"),
    ("h", "HH"),
    ("i", "IH"),
    ("j", "JH"),
    ("k", "K"),
    ("l", "L"),
    ("m", "M"),
    ("n", "N"),
    ("o", "AA"),
    ("p", "P"),
    ("q", "K"),
    ("r", "R"),
    ("s", "S"),
    ("t", "T"),
    ("u", "AH"),
    ("v", "V"),
    ("w", "W"),
    ("x", "K S"),
    ("y", "IY"),
    ("z", "Z"),
]


def guess_pronunciation(word: str) -> str:
    """ARPAbet guess for an out-of-vocabulary word (letter rules; good enough to align)."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if len(w) > 1 and w.endswith("e") and w[-2] not in "aeiou":
        w = w[:-1]  # silent final e
    out: list[str] = []
    i = 0
    while i < len(w):
        for g, p in _G2P_RULES:
            if w.startswith(g, i):
                if p:
                    out.extend(p.split())
                i += len(g)
                break
        else:
            i += 1
    dedup = [p for j, p in enumerate(out) if j == 0 or p != out[j - 1]]
    return " ".join(dedup) or "AH"


def _align(x: np.ndarray, transcript: str, lang: str, kind: str = "align") -> VisemeTrack | None:
    words = normalize_transcript(transcript)
    if not words:
        return None
    duration = len(x) / 16000.0
    with _lock:
        dec = _decoder(kind)
        for w in sorted(set(words)):
            if dec.lookup_word(w) is None:
                dec.add_word(w, guess_pronunciation(w), True)
        dec.set_align_text(" ".join(words))
        pcm = _pcm(x)
        dec.reinit_feat()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        if dec.hyp() is None:
            return None
        words = [(w.word, w.start_frame, w.end_frame + 1) for w in dec.seg()]
        dec.set_alignment()
        dec.reinit_feat()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        try:
            dec.end_utt()
            al = dec.get_alignment()
        except RuntimeError:
            al = None
        if al is not None:
            segs = _segments_from_alignment(al)
        else:  # phone-level pass failed: spread each word's phones over its span
            log.warning("phone alignment failed; using word timings")
            segs = _segments_from_words(dec, words)
    segs = _tidy(segs, duration)
    if not any(not s.is_silence for s in segs):
        return None
    return VisemeTrack(segs, "alignment", lang, duration, confidence=1.0)


def _segments_from_alignment(al) -> list[PhoneSegment]:
    segs: list[PhoneSegment] = []
    for w in al:
        wname = re.sub(r"\(\d+\)$", "", w.name)
        filler = wname.startswith("<") or wname.startswith("[")
        for p in w:
            name = p.name.upper()
            if name not in ARPABET:
                name = SILENCE if name == SILENCE or filler else "+NSN+"
            start = p.start / FRAME_RATE
            end = (p.start + p.duration) / FRAME_RATE
            segs.append(
                PhoneSegment(name, start, end, label=p.name, word=None if filler else wname)
            )
    return segs


def _segments_from_words(dec, words: list[tuple[str, int, int]]) -> list[PhoneSegment]:
    segs: list[PhoneSegment] = []
    for word, a, b in words:
        wname = re.sub(r"\(\d+\)$", "", word)
        pron = None if wname.startswith("<") else dec.lookup_word(word)
        phones = pron.split() if pron else [SILENCE]
        step = (b - a) / len(phones)
        for i, ph in enumerate(phones):
            ph = ph.upper() if ph.upper() in ARPABET else SILENCE
            start = (a + i * step) / FRAME_RATE
            end = (a + (i + 1) * step) / FRAME_RATE
            segs.append(PhoneSegment(ph, start, end, word=None if ph == SILENCE else wname))
    return segs
