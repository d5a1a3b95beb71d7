"""Procedural mouth: closures at p/b/m, open vowels, silence at rest, sync with loudness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.audio.features import compute_features, interval_log_rms
from avatar.audio.speech import Speech
from avatar.motion.mouth import CHANNELS, mouth_curves
from avatar.speech import PhoneSegment, VisemeTrack, recognize_phones
from avatar.speech.visemes import BILABIALS, OPEN_VOWELS

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
FPS = 25.0


def _speech_file(name: str) -> Speech:
    path = SPEECH / name
    if not path.is_file():
        pytest.skip(f"shared data file {name} is not available")
    from avatar.audio.decode import load_audio

    return load_audio(path)


def _mouth(speech: Speech, track: VisemeTrack | None = None, fps: float = FPS, lang: str = "en"):
    n = speech.n_frames(fps)
    feats = compute_features(speech, fps, n)
    if track is None:
        track = recognize_phones(speech, language=lang)
    return mouth_curves(track, feats, fps, n, language=lang), feats


def _lip_scores(jaw: np.ndarray, segments: list[PhoneSegment], fps: float = FPS):
    """Closed / open hit lists at reference phone centres, judged on the clip's jaw range."""
    lo, hi = np.percentile(jaw, [5, 95])
    z = (jaw - lo) / max(hi - lo, 1e-9)

    def at(s: PhoneSegment) -> float:
        return float(z[min(len(z) - 1, int(s.centre * fps))])

    closed = [at(s) <= 0.1 for s in segments if s.phone in BILABIALS]
    opened = [at(s) >= 0.5 for s in segments if s.phone in OPEN_VOWELS]
    return closed, opened


# --------------------------------------------------------------------------- espeak-ng


def espeak_synth(text: str, voice: str = "en-us", wpm: int = 175):
    """Speech (16 kHz) and its exact phoneme-event track; skips without libespeak-ng."""
    from avatar.speech.espeak import espeak_available, synthesize

    if not espeak_available():
        pytest.skip("libespeak-ng is not installed (apt-get install espeak-ng libespeak-ng1)")
    return synthesize(text, voice, wpm)


SENTENCES = [
    "Bob bought a map of Paris for his mother.",
    "A bad man may grab a cab by the palm tree.",
    "Maybe the baby wants some warm milk before bed.",
    "My father and my brother both play the trumpet in a band.",
]


@pytest.fixture(scope="module")
def espeak_clips():
    return [espeak_synth(s) for s in SENTENCES]


def test_espeak_timings_close_bilabials_and_open_vowels(espeak_clips):
    closed: list[bool] = []
    opened: list[bool] = []
    for speech, track in espeak_clips:
        m, _ = _mouth(speech, track)
        c, o = _lip_scores(m["jaw_open"], track.segments)
        closed += c
        opened += o
    assert len(closed) >= 30 and len(opened) >= 25
    assert np.mean(closed) >= 0.9, np.mean(closed)
    assert np.mean(opened) >= 0.9, np.mean(opened)


def test_recognised_phones_on_espeak_audio(espeak_clips):
    """Allphone timings (no transcript) judged against the exact espeak-ng timings."""
    closed: list[bool] = []
    opened: list[bool] = []
    for speech, track in espeak_clips:
        m, _ = _mouth(speech)  # recognises phones itself
        c, o = _lip_scores(m["jaw_open"], track.segments)
        closed += c
        opened += o
    assert np.mean(closed) >= 0.9, np.mean(closed)
    assert np.mean(opened) >= 0.8, np.mean(opened)


# --------------------------------------------------------------------------- real speech


VB_TEXT = (
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, "
    "and maybe a snack for her brother Bob."
)


def test_voicebank_alignment_and_recognition():
    speech = _speech_file("en_male_clean_voicebank_p287_003.wav")
    ref = recognize_phones(speech, VB_TEXT)
    for track in (ref, None):
        m, _ = _mouth(speech, track)
        closed, opened = _lip_scores(m["jaw_open"], ref.segments)
        assert len(closed) == 9
        assert np.mean(closed) >= (1.0 if track is ref else 0.85)
        assert np.mean(opened) >= 0.9


@pytest.mark.parametrize(
    "name",
    [
        "en_male_clean_voicebank_p287_003.wav",
        "en_female_librispeech_198-209-0000.ogg",
        "ja_female_commonvoice_38852485.wav",
        "zh_female_aishell1_BAC009S0764W0121.wav",
        "es_male_commonvoice_19125377.wav",
    ],
)
def test_jaw_follows_log_rms(name):
    speech = _speech_file(name)
    m, feats = _mouth(speech, lang=name[:2])
    jaw = m["jaw_open"].astype(np.float64)
    ref = interval_log_rms(speech.samples, speech.sample_rate, FPS, len(jaw))
    r = np.corrcoef(jaw, ref)[0, 1]
    assert r >= 0.55, r
    lags = {
        k: np.corrcoef(
            jaw[max(0, k) : len(jaw) + min(0, k)], ref[max(0, -k) : len(ref) - max(0, k)]
        )[0, 1]
        for k in range(-5, 6)
    }
    assert abs(max(lags, key=lags.get)) <= 1


# --------------------------------------------------------------------------- synthetic


def _tone(seconds: float, start: float, stop: float) -> Speech:
    t = np.arange(int(seconds * 16000)) / 16000
    x = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 10)) * 0.08
    x[(t < start) | (t >= stop)] = 0.0
    return Speech(x.astype(np.float32))


def test_silence_rests_closed():
    speech = Speech(np.zeros(16000 * 2, np.float32))
    for track in (recognize_phones(speech), VisemeTrack([], "acoustic", "ja", 2.0)):
        m, _ = _mouth(speech, track)
        assert set(m) == set(CHANNELS)
        for name in CHANNELS:
            assert m[name].shape == (50,) and m[name].dtype == np.float32
            assert np.all(m[name] == 0.0), name


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0, 60.0])
def test_hard_closure_survives_at_any_frame_rate(fps):
    speech = _tone(1.2, 0.2, 1.0)
    segs = [
        PhoneSegment("SIL", 0.0, 0.2),
        PhoneSegment("AA", 0.2, 0.55),
        PhoneSegment("B", 0.55, 0.58),  # 30 ms: shorter than a frame at 25 fps
        PhoneSegment("AA", 0.58, 1.0),
        PhoneSegment("SIL", 1.0, 1.2),
    ]
    track = VisemeTrack(segs, "alignment", "en", 1.2)
    m, _ = _mouth(speech, track, fps=fps)
    jaw = m["jaw_open"]
    centre = int(0.565 * fps)
    assert jaw[centre] == 0.0
    assert np.sum(jaw == 0.0) - np.sum(jaw[: int(0.2 * fps) - 4] == 0.0) >= 1
    closed = np.flatnonzero(jaw[int(0.4 * fps) : int(0.75 * fps)] == 0.0)
    assert len(closed) / fps >= 0.04 - 1e-9  # lips together >= 40 ms
    assert m["upper_lip_raise"][centre] == 0.0 and m["lower_lip_depress"][centre] == 0.0
    assert jaw[int(0.4 * fps)] > 0.5 and jaw[int(0.8 * fps)] > 0.5


def test_anticipation_labiodental_rule_and_determinism():
    speech = _tone(1.2, 0.4, 1.0)
    segs = [
        PhoneSegment("SIL", 0.0, 0.4),
        PhoneSegment("AA", 0.4, 0.6),
        PhoneSegment("F", 0.6, 0.72),
        PhoneSegment("UW", 0.72, 1.0),
        PhoneSegment("SIL", 1.0, 1.2),
    ]
    track = VisemeTrack(segs, "alignment", "en", 1.2)
    m, feats = _mouth(speech, track, fps=100.0)
    jaw = m["jaw_open"]
    assert jaw[:20].max() == 0.0  # rest
    assert 0.0 < jaw[33] < jaw[50]  # opening 70 ms before the voice
    assert m["upper_lip_raise"][65] >= 0.3 and jaw[65] <= 0.1 + 1e-6  # F/V rule
    assert m["lip_spread"][88] < -0.4  # rounded UW
    again = mouth_curves(track, feats, 100.0, len(jaw))
    for name in CHANNELS:
        np.testing.assert_array_equal(again[name], m[name])
