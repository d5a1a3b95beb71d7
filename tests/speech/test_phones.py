"""Phones: forced alignment, allphone recognition, espeak-ng mnemonics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.audio.speech import Speech
from avatar.speech import PhoneSegment, VisemeTrack, phones_from_espeak_events, recognize_phones
from avatar.speech.phones import (
    espeak_to_arpabet,
    guess_pronunciation,
    normalize_transcript,
    split_points,
)
from avatar.speech.visemes import ARPABET, NOISE, SILENCE

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
VOICEBANK = "en_male_clean_voicebank_p287_003.wav"
VB_TEXT = (
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, "
    "and maybe a snack for her brother Bob."
)


def _speech_file(name: str) -> Speech:
    path = SPEECH / name
    if not path.is_file():
        pytest.skip(f"shared data file {name} is not available")
    from avatar.audio.decode import load_audio

    return load_audio(path)


def _well_formed(track: VisemeTrack, duration: float) -> None:
    segs = track.segments
    assert segs[0].start == pytest.approx(0.0)
    assert segs[-1].end == pytest.approx(duration, abs=0.011)
    for a, b in zip(segs[:-1], segs[1:]):
        assert a.end == pytest.approx(b.start, abs=1e-6)
    for s in segs:
        assert s.end > s.start
        assert s.phone in ARPABET or s.phone == SILENCE or s.phone in NOISE
        assert s.viseme


@pytest.fixture(scope="module")
def voicebank() -> Speech:
    return _speech_file(VOICEBANK)


def test_forced_alignment_orders_phones_and_ends_with_bob(voicebank):
    track = recognize_phones(voicebank, VB_TEXT)
    assert track.source == "alignment"
    _well_formed(track, voicebank.duration)
    words = [s.word for s in track.segments if s.word]
    order = list(dict.fromkeys(w for w in words))  # first-seen order of the word labels
    assert order[:3] == ["six", "spoons", "of"]
    assert order[-3:] == ["her", "brother", "bob"]
    bob = [s for s in track.segments if s.word == "bob"]
    assert [s.phone for s in bob] == ["B", "AA", "B"]
    assert 6.0 < bob[0].start < bob[-1].end <= voicebank.duration
    # the b of "blue" comes before the ch of "cheese", which comes before "bob"
    blue_b = next(s for s in track.segments if s.word == "blue" and s.phone == "B")
    assert 3.7 < blue_b.centre < 4.3 < bob[0].start
    speech = [s.phone for s in track.speech_segments()]
    assert speech[:4] == ["S", "IH", "K", "S"]


def test_alignment_survives_loud_noise():
    noisy = _speech_file("en_male_noisy_voicebank_demand_p287_003.wav")  # about 4 dB SNR
    track = recognize_phones(noisy, VB_TEXT)
    assert track.source == "alignment"
    blue = [s for s in track.segments if s.word == "blue"]
    assert blue and 3.7 < blue[0].start < 4.2


def test_alignment_is_deterministic_and_handles_unknown_words(voicebank):
    a = recognize_phones(voicebank, VB_TEXT)
    b = recognize_phones(voicebank, VB_TEXT)
    assert [(s.phone, s.start, s.end) for s in a] == [(s.phone, s.start, s.end) for s in b]
    odd = recognize_phones(voicebank, VB_TEXT.replace("Bob", "Zorblax"))
    assert odd.source == "alignment"
    assert any(s.word == "zorblax" for s in odd.segments)


def test_allphone_finds_speech_and_silence(voicebank):
    track = recognize_phones(voicebank)
    assert track.source == "allphone"
    _well_formed(track, voicebank.duration)
    t = np.arange(0.0, voicebank.duration, 0.01)
    speech = np.zeros(t.size, bool)
    for s in track.speech_segments():
        speech[(t >= s.start) & (t < s.end)] = True
    assert not speech[t < 0.45].any()  # leading silence
    assert speech[(t > 0.7) & (t < 2.0)].mean() > 0.8  # "six spoons of fresh snow"
    assert speech[(t > 5.3) & (t < 6.6)].mean() > 0.8  # "snack for her brother bob"
    assert len(track.speech_segments()) > 30
    bilabials = [s for s in track.segments if s.phone in ("P", "B", "M")]
    assert bilabials  # "Bob", "blue", ... some survive recognition
    again = recognize_phones(voicebank)
    assert [(s.phone, s.start) for s in again] == [(s.phone, s.start) for s in track]


def test_silence_is_one_silent_segment():
    track = recognize_phones(Speech(np.zeros(16000, np.float32)))
    assert [s.phone for s in track] == [SILENCE]
    assert track.segments[0].end == pytest.approx(1.0)


def test_long_audio_is_cut_at_quiet_points():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(16000 * 70) * 0.1).astype(np.float32)
    quiet = [30 * 16000, 52 * 16000]
    for q in quiet:
        x[q - 1600 : q + 1600] *= 1e-3
    cuts = split_points(x)
    assert cuts[0] == 0 and cuts[-1] == len(x)
    assert all(b - a <= 25 * 16000 + 160 for a, b in zip(cuts[:-1], cuts[1:]))
    inner = cuts[1:-1]
    assert any(abs(c - quiet[1]) < 3200 for c in inner)


def test_espeak_events_map_to_arpabet_rows():
    events = [
        (0.00, "_:"),
        (0.10, "b"),
        (0.14, "'0"),  # RP/US "o" of Bob, primary stress
        (0.30, "b"),
        (0.38, "@"),
        (0.45, "m"),
        (0.52, "aI"),
        (0.70, "f"),
        (0.78, "@L"),
        (0.95, "_"),
    ]
    track = phones_from_espeak_events(events, duration=1.0)
    assert track.source == "espeak"
    phones = [s.phone for s in track.segments]
    assert phones == ["SIL", "B", "AA", "B", "AH", "M", "AY", "F", "AH", "L", "SIL"]
    assert track.segments[2].stress == 2 and track.segments[2].label == "'0"
    assert track.segments[4].reduced and not track.segments[2].reduced
    assert track.segments[-1].end == pytest.approx(1.0)
    # dict events in ms, as the C API reports them
    t2 = phones_from_espeak_events(
        [{"audio_position": 0, "name": "p"}, {"audio_position": 80, "name": "i:"}], duration=0.3
    )
    assert [s.phone for s in t2] == ["P", "IY"]


@pytest.mark.parametrize(
    "name,phone",
    [
        ("tS", "CH"),
        ("dZ", "JH"),
        ("T", "TH"),
        ("D", "DH"),
        ("N", "NG"),
        ("3:", "ER"),
        ("oU", "OW"),
        ("aU", "AW"),
        ("OI", "OY"),
        ("eI", "EY"),
        ("t#", "T"),
        ("m-", "M"),
        (",I2", "IH"),
        ("e@", "EH"),
    ],
)
def test_espeak_mnemonics(name, phone):
    assert espeak_to_arpabet(name)[0] == phone


def test_text_normalisation_and_letter_rules():
    assert normalize_transcript("It's 22 B.C., Bob!") == ["it's", "twenty", "two", "b", "c", "bob"]
    assert guess_pronunciation("zorblax").split()[0] == "Z"
    assert "B" in guess_pronunciation("zorblax").split()
    seg = PhoneSegment("M", 0.1, 0.2)
    assert seg.viseme == "PP" and seg.centre == pytest.approx(0.15)
