"""Text to speech with exact phoneme timings, offline: espeak-ng through libespeak-ng.

``synthesize(text)`` returns the speech and a ``VisemeTrack`` whose timings come
from espeak-ng's own phoneme events, so the mouth needs no recognition step:
pass both to ``TalkingPortraitPipeline(image, result.speech, phones=result.phones)``.
Needs Debian's ``espeak-ng`` (``apt-get install espeak-ng``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from avatar.audio.speech import SAMPLE_RATE, Speech
from avatar.errors import AvatarError
from avatar.speech import VisemeTrack

__all__ = ["TTSResult", "Voice", "is_available", "list_voices", "synthesize", "voice_for"]

INSTALL_HINT = "apt-get install espeak-ng"
DEFAULT_VOICE = "en-us"
#: Texts longer than this are synthesised in pieces of whole sentences.
CHUNK_CHARS = 600
#: ``--lang`` codes whose espeak-ng voice has another name.
_LANG_VOICES = {"en": "en-us", "zh": "cmn", "pt": "pt-br"}


class TTSResult(NamedTuple):
    """Speech (16 kHz) and its exact phone timings; ``result[0]`` is the speech."""

    speech: Speech
    phones: VisemeTrack


@dataclass(frozen=True)
class Voice:
    name: str  # the name to pass as ``voice``, e.g. "en-us"
    description: str  # espeak-ng's display name, e.g. "English (America)"
    languages: tuple[str, ...]


def is_available() -> bool:
    from avatar.speech.espeak import espeak_available

    return espeak_available()


def _require() -> None:
    if not is_available():
        raise AvatarError(
            f"Text to speech needs espeak-ng, which is not installed; run `{INSTALL_HINT}`."
        )


def list_voices() -> list[Voice]:
    """Every espeak-ng voice, named as ``synthesize(voice=...)`` takes it."""
    _require()
    from avatar.speech.espeak import list_voices_raw

    voices = []
    for description, identifier, languages in list_voices_raw():
        name = languages[0] if languages else identifier.rsplit("/", 1)[-1].lower()
        voices.append(Voice(name, description, tuple(languages)))
    return sorted(voices, key=lambda v: v.name)


def voice_for(language: str | None) -> str:
    """The espeak-ng voice for a language code ("en" -> "en-us", "es" -> "es")."""
    if not language:
        return DEFAULT_VOICE
    code = language.strip().lower().replace("_", "-")
    return _LANG_VOICES.get(code, code)


def _chunks(text: str) -> list[str]:
    """Whole sentences grouped into pieces of at most about ``CHUNK_CHARS`` characters."""
    if len(text) <= CHUNK_CHARS:
        return [text]
    sentences = re.split(r"(?<=[.!?。！？])\s+|\n\s*\n", text)
    pieces, current = [], ""
    for sentence in (s.strip() for s in sentences):
        if not sentence:
            continue
        if current and len(current) + len(sentence) + 1 > CHUNK_CHARS:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def synthesize(
    text: str,
    *,
    voice: str | None = None,
    language: str | None = None,
    rate: int = 175,
    pitch: int = 50,
) -> TTSResult:
    """Speak ``text`` with espeak-ng; timings of every phone are exact.

    ``voice`` is an espeak-ng voice name ("en-us", "es", "ja", ...); without
    one, the voice of ``language`` (default American English). ``rate`` is in
    words per minute (80-450), ``pitch`` 0-100 (50 normal).
    """
    from avatar.speech.espeak import synthesize as espeak_synthesize

    text = (text or "").strip()
    if not text:
        raise AvatarError("The script is empty; type the words the portrait should say.")
    if not 80 <= rate <= 450:
        raise AvatarError(f"The speaking rate must be 80-450 words per minute, not {rate}.")
    if not 0 <= pitch <= 100:
        raise AvatarError(f"The pitch must be between 0 and 100, not {pitch}.")
    _require()
    name = voice or voice_for(language)
    lang = (language or name.split("-")[0]).split("-")[0].lower()
    pieces, segments, offset = [], [], 0.0
    for chunk in _chunks(text):
        try:
            speech, track = espeak_synthesize(chunk, name, rate, pitch)
        except ValueError as exc:
            raise AvatarError(
                f"espeak-ng has no voice '{name}'; `avatar voices` lists them."
            ) from exc
        pieces.append(speech.samples)
        segments += [
            dataclasses.replace(s, start=s.start + offset, end=s.end + offset)
            for s in track.segments
        ]
        offset += len(speech.samples) / SAMPLE_RATE
    samples = np.concatenate(pieces).astype(np.float32)
    if len(samples) == 0 or not segments:
        raise AvatarError("espeak-ng produced no speech for this script.")
    return TTSResult(Speech(samples), VisemeTrack(segments, "espeak", lang, offset))
