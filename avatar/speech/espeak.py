"""espeak-ng through libespeak-ng: speech plus the exact time of every phoneme.

Used to make speech whose phone timings are known (training and tests of the
mouth); the script-to-avatar TTS builds on it.  Needs Debian's
``libespeak-ng1`` (``apt-get install espeak-ng``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np
from scipy import signal

from avatar.audio.speech import SAMPLE_RATE, Speech

_EVENT_PHONEME = 7  # espeakEVENT_PHONEME
_EVENT_END = 0  # espeakEVENT_LIST_TERMINATED
_lock = threading.Lock()
_espeak: tuple[ctypes.CDLL, int] | None = None


class _Event(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [
            ("number", ctypes.c_int),
            ("name", ctypes.c_char_p),
            ("string", ctypes.c_char * 8),
        ]

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def espeak_available() -> bool:
    return bool(ctypes.util.find_library("espeak-ng"))


def _library() -> tuple[ctypes.CDLL, int]:
    global _espeak
    if _espeak is None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        lib = ctypes.CDLL(name)
        # synchronous output, phoneme events on, don't exit on error
        rate = lib.espeak_Initialize(2, 0, None, 0x0001 | 0x8000)
        if rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        _espeak = (lib, int(rate))
    return _espeak


def synthesize_raw(
    text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int, list[tuple[float, str]]]:
    """``(samples, sample_rate, [(time_s, phoneme mnemonic)])`` at espeak-ng's own rate."""
    with _lock:
        lib, sr = _library()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice named {voice!r}")
        lib.espeak_SetParameter(1, int(rate), 0)  # espeakRATE, words per minute
        lib.espeak_SetParameter(3, int(pitch), 0)  # espeakPITCH, 0-100 (50 normal)
        chunks: list[np.ndarray] = []
        events: list[tuple[float, str]] = []

        def on_audio(wav, n, ev):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            i = 0
            while ev[i].type != _EVENT_END:
                if ev[i].type == _EVENT_PHONEME:
                    name = bytes(ev[i].id.string).split(b"\0")[0].decode()
                    events.append((ev[i].audio_position / 1000.0, name))
                i += 1
            return 0

        callback = _SynthCallback(on_audio)
        lib.espeak_SetSynthCallback(callback)
        data = text.encode()
        lib.espeak_Synth(ctypes.c_char_p(data), len(data) + 1, 0, 1, 0, 1, None, None)
        lib.espeak_Synchronize()
    x = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    return x, sr, events


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50):
    """``(Speech at 16 kHz, about -20 dBFS RMS, VisemeTrack with the exact phone timings)``."""
    from avatar.speech.phones import phones_from_espeak_events

    x, sr, events = synthesize_raw(text, voice, rate, pitch)
    duration = len(x) / sr
    g = np.gcd(sr, SAMPLE_RATE)
    x16 = signal.resample_poly(x, SAMPLE_RATE // g, sr // g).astype(np.float32)
    x16 *= 0.1 / max(float(np.sqrt(np.mean(x16**2))), 1e-6)
    return Speech(x16), phones_from_espeak_events(events, duration)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def list_voices_raw() -> list[tuple[str, str, list[str]]]:
    """``[(name, identifier, [language, ...])]`` for every voice espeak-ng knows."""
    out: list[tuple[str, str, list[str]]] = []
    with _lock:
        lib, _ = _library()
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        voices = lib.espeak_ListVoices(None)
        i = 0
        while voices[i]:
            v = voices[i].contents
            langs: list[str] = []
            if v.languages:
                p = v.languages
                while ctypes.c_ubyte.from_address(p).value != 0:  # priority byte, then a string
                    lang = ctypes.string_at(p + 1)
                    langs.append(lang.decode(errors="replace"))
                    p += 2 + len(lang)
            out.append(
                (
                    (v.name or b"").decode(errors="replace"),
                    (v.identifier or b"").decode(errors="replace"),
                    langs,
                )
            )
            i += 1
    return out
