from __future__ import annotations

import numpy as np
import pytest

from avatar.audio import load_audio
from avatar.audio.features import compute_features
from avatar.audio.speech import Speech
from avatar.motion import MotionControls, generate_motion
from avatar.motion.procedural import blink_track
from tests.conftest import shared

FPS = 25.0


@pytest.fixture(scope="module")
def speech_features():
    speech = load_audio(shared("speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac"))
    return compute_features(speech, FPS, speech.n_frames(FPS))


def _mouth(n: int) -> dict[str, np.ndarray]:
    return {"jaw_open": np.zeros(n, np.float32)}


def _blinks(track: np.ndarray, fps: float) -> list[tuple[int, int]]:
    closed = np.concatenate([[False], track > 0.5, [False]])
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    return list(zip(edges[0::2], edges[1::2], strict=True))


def test_same_seed_same_motion_and_seeds_differ(speech_features):
    n = speech_features.n_frames
    a = generate_motion(speech_features, _mouth(n), MotionControls(seed=3))
    b = generate_motion(speech_features, _mouth(n), MotionControls(seed=3))
    c = generate_motion(speech_features, _mouth(n), MotionControls(seed=4))
    assert np.array_equal(a.values, b.values)
    assert np.abs(a["yaw"] - c["yaw"]).mean() > 0.5
    assert _blinks(a["blink_left"], FPS) != _blinks(c["blink_left"], FPS)


def test_natural_blink_rate_and_duration(speech_features):
    n = speech_features.n_frames
    minutes = n / FPS / 60
    for seed in range(4):
        m = generate_motion(speech_features, _mouth(n), MotionControls(seed=seed))
        blinks = _blinks(m["blink_left"], FPS)
        assert 10 <= len(blinks) / minutes <= 30
        # Full blink (from open to open) 100-400 ms: measure above 10 % closure.
        full = _blinks(np.where(m["blink_left"] > 0.1, 1.0, 0.0), FPS)
        for s, e in full:
            assert 100 <= (e - s + 1) / FPS * 1000 <= 440


def test_head_motion_is_natural_and_follows_speech(speech_features):
    n = speech_features.n_frames
    m = generate_motion(speech_features, _mouth(n), MotionControls(seed=0))
    assert 1.0 <= m["yaw"].std() <= 6.0
    assert 1.0 <= m["pitch"].std() <= 6.0
    speaking = speech_features.speaking > 0.5
    step = np.abs(np.diff(m["yaw"])) + np.abs(np.diff(m["pitch"]))
    assert step[speaking[1:]].mean() > 1.2 * step[~speaking[1:]].mean()
    # Smooth: no jitter (frame-to-frame acceleration stays tiny; nods are slow).
    assert np.abs(np.diff(m["yaw"], 2)).max() < 0.15
    assert np.abs(np.diff(m["pitch"], 2)).max() < 0.15


def test_knobs_switch_components_off(speech_features):
    n = speech_features.n_frames
    still = generate_motion(
        speech_features, _mouth(n), MotionControls(head_motion=0, blink_rate=0, expression=0)
    )
    for ch in ("yaw", "pitch", "roll", "tx", "ty", "scale", "blink_left", "blink_right"):
        assert np.allclose(still[ch], 0), ch
    assert np.allclose(still["brow_inner"], 0)
    lively = generate_motion(speech_features, _mouth(n), MotionControls(head_motion=2))
    calm = generate_motion(speech_features, _mouth(n), MotionControls(head_motion=1))
    assert lively["yaw"].std() == pytest.approx(2 * calm["yaw"].std(), rel=0.01)


def test_blink_rate_knob_scales_the_rate():
    rng = np.random.default_rng(0)
    n = int(600 * FPS)
    slow = len(_blinks(blink_track(n, FPS, rng, rate_per_min=10), FPS))
    fast = len(_blinks(blink_track(n, FPS, np.random.default_rng(0), rate_per_min=30), FPS))
    assert 70 <= slow <= 130
    assert 230 <= fast <= 370


def test_silence_still_blinks():
    speech = Speech(np.zeros(16000 * 20, np.float32))
    feats = compute_features(speech, FPS, speech.n_frames(FPS))
    m = generate_motion(feats, _mouth(feats.n_frames), MotionControls(seed=1))
    assert len(_blinks(m["blink_left"], FPS)) >= 2
    assert m["yaw"].std() < 2.0
