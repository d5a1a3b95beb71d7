"""Speech: timed phones and visemes from audio, transcripts or TTS events."""

from __future__ import annotations

from avatar.speech.phones import phones_from_espeak_events, recognize_phones
from avatar.speech.visemes import PhoneSegment, VisemeTrack, viseme_of

__all__ = [
    "PhoneSegment",
    "VisemeTrack",
    "phones_from_espeak_events",
    "recognize_phones",
    "viseme_of",
]
