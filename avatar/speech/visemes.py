"""Timed phones and their viseme classes: the contract between recognition and the mouth.

Phones are ARPAbet as in the pocketsphinx en-us model (39 phones plus ``SIL``,
``+NSN+`` and ``+SPN+``), upper case, no stress digits. The viseme class names
are Meta's 15 (MPEG-4 derived) visemes of shared/ref/visemes.md §1, kept for
consumers that want a coarse label; the mouth reads the phone itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH"
).split()
SILENCE = "SIL"
NOISE = ("+NSN+", "+SPN+")
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
OPEN_VOWELS = frozenset("AA AE AH AO AW AY".split())
BILABIALS = frozenset("P B M".split())

# ARPAbet -> Meta/OVR viseme class (visemes.md §1, column OVR).
VISEME_OF = {
    "SIL": "sil",
    "+NSN+": "sil",
    "+SPN+": "sil",
    "P": "PP",
    "B": "PP",
    "M": "PP",
    "F": "FF",
    "V": "FF",
    "TH": "TH",
    "DH": "TH",
    "T": "DD",
    "D": "DD",
    "N": "nn",
    "S": "SS",
    "Z": "SS",
    "SH": "CH",
    "ZH": "CH",
    "CH": "CH",
    "JH": "CH",
    "K": "kk",
    "G": "kk",
    "NG": "kk",
    "L": "nn",
    "R": "RR",
    "W": "ou",
    "Y": "ih",
    "HH": "sil",  # takes the next vowel's shape in the mouth
    "IY": "ih",
    "IH": "ih",
    "EY": "E",
    "EH": "E",
    "AE": "aa",
    "AH": "aa",
    "AA": "aa",
    "AO": "oh",
    "OW": "oh",
    "UH": "ou",
    "UW": "ou",
    "ER": "E",
    "AY": "aa",
    "AW": "aa",
    "OY": "oh",
}

SOURCES = ("allphone", "alignment", "espeak", "acoustic")


def viseme_of(phone: str) -> str:
    """Viseme class of an ARPAbet phone; unknown symbols count as silence."""
    return VISEME_OF.get(phone, "sil")


@dataclass
class PhoneSegment:
    """One timed phone. ``start``/``end`` in seconds; ``label`` is the recogniser's raw symbol.

    ``reduced`` marks a schwa (ARPAbet has no separate symbol: it is an ``AH``).
    ``stress`` is 2 primary, 1 secondary, 0 unstressed, ``None`` unknown.
    """

    phone: str
    start: float
    end: float
    viseme: str = ""
    confidence: float | None = None
    label: str = ""
    reduced: bool = False
    stress: int | None = None
    word: str | None = None

    def __post_init__(self) -> None:
        if not self.viseme:
            self.viseme = viseme_of(self.phone)
        if not self.label:
            self.label = self.phone

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_silence(self) -> bool:
        return self.phone == SILENCE or self.phone in NOISE


@dataclass
class VisemeTrack:
    """Timed phones for one clip, in order and without overlaps.

    ``source`` says how the timings were made: ``allphone`` (phone recognition,
    no transcript), ``alignment`` (forced alignment to a transcript),
    ``espeak`` (TTS phoneme events, exact) or ``acoustic`` (no phones: speech /
    silence only, the mouth then uses acoustic cues).
    """

    segments: list[PhoneSegment] = field(default_factory=list)
    source: str = "allphone"
    language: str = "en"
    duration: float | None = None
    confidence: float | None = None

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):
        return iter(self.segments)

    @property
    def phones(self) -> list[str]:
        return [s.phone for s in self.segments]

    def speech_segments(self) -> list[PhoneSegment]:
        """The segments that are not silence or noise."""
        return [s for s in self.segments if not s.is_silence]
