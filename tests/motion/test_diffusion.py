"""The motion diffusion model: tiny models from the real classes, and the shipped checkpoint."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from avatar.audio import load_audio  # noqa: E402
from avatar.audio.features import compute_features  # noqa: E402
from avatar.audio.speech import Speech  # noqa: E402
from avatar.motion import MotionControls, generate_motion  # noqa: E402
from avatar.motion.diffusion.conditioning import COND_DIM, MODEL_CHANNELS  # noqa: E402
from avatar.motion.diffusion.model import MotionDenoiser  # noqa: E402
from avatar.motion.diffusion.sampler import CROSSFADE, DiffusionMotionGenerator  # noqa: E402
from avatar.motion.engines import motion_model_dir  # noqa: E402
from avatar.motion.mouth import mouth_curves  # noqa: E402
from avatar.speech import recognize_phones  # noqa: E402
from tests.conftest import shared  # noqa: E402

FPS = 25.0
C = len(MODEL_CHANNELS)


def tiny_model(**kw) -> MotionDenoiser:
    torch.manual_seed(0)
    cfg = dict(
        n_channels=C,
        cond_dim=COND_DIM,
        d_model=32,
        n_layers=1,
        n_heads=2,
        ff_mult=2,
        window=40,
        prefix=8,
        channel_names=list(MODEL_CHANNELS),
        channel_mean=[0.0] * C,
        channel_std=[1.0] * C,
        num_inference_steps=4,
    )
    cfg.update(kw)
    return MotionDenoiser(**cfg)


def _blinks(track: np.ndarray) -> int:
    closed = np.concatenate([[False], track > 0.5, [False]])
    return int(np.count_nonzero(np.diff(closed.astype(np.int8)) == 1))


@pytest.fixture(scope="module")
def clip():
    """20 s of real English speech: features and viseme mouth curves (recognised phones)."""
    speech = load_audio(shared("speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac"))
    speech = Speech(speech.samples[: 20 * speech.sample_rate], speech.sample_rate)
    n = speech.n_frames(FPS)
    feats = compute_features(speech, FPS, n)
    mouth = mouth_curves(recognize_phones(speech, language="en"), feats, FPS, n, language="en")
    return feats, mouth


def _slice(feats, mouth, seconds: float):
    from avatar.audio.features import slice_features

    n = int(seconds * FPS)
    sub = slice_features(feats, 0, n)
    sub.hires = None
    return sub, {k: v[:n] for k, v in mouth.items()}


def test_forward_shapes_and_masks():
    model = tiny_model()
    x = torch.randn(3, 30, C)
    out = model(
        x,
        torch.tensor([0, 5, 9]),
        torch.randn(3, 30, COND_DIM),
        torch.randn(3, 8, C),
        torch.tensor([1.0, 0.0, 1.0]),
        torch.tensor([1.0, 1.0, 0.0]),
        torch.ones(3, 30, dtype=torch.bool),
    )
    assert out.shape == (3, 30, C)
    assert torch.isfinite(out).all()


def test_save_and_load_round_trip(tmp_path):
    model = tiny_model(head_amount_deg=3.0)
    model.save_pretrained(str(tmp_path))
    again = MotionDenoiser.from_pretrained(str(tmp_path))
    assert again.config.head_amount_deg == 3.0
    args = (torch.randn(1, 20, C), torch.tensor([3]), torch.randn(1, 20, COND_DIM))
    assert torch.allclose(model(*args), again(*args))


def test_seeded_sampling_any_length(clip):
    feats, mouth = _slice(*clip, 9.3)
    gen = DiffusionMotionGenerator(tiny_model())
    a = gen(feats, mouth, MotionControls(seed=1))
    b = gen(feats, mouth, MotionControls(seed=1))
    c = gen(feats, mouth, MotionControls(seed=2))
    assert len(a) == int(9.3 * FPS) and np.isfinite(a.values).all()
    assert np.array_equal(a.values, b.values)
    assert np.abs(a["yaw"] - c["yaw"]).mean() > 0.05
    assert not np.array_equal(a["blink_left"], c["blink_left"])
    still = gen(feats, mouth, MotionControls(seed=1, head_motion=0))
    assert np.abs(still["yaw"]).max() == 0


def test_train_motion_cli_writes_a_loadable_model(tmp_path):
    from avatar.cli import main

    data = tmp_path / "videos"
    data.mkdir()
    shutil.copy(shared("videos_train/grid_lipnet_samples/lbbc2a.mpg"), data)
    out = tmp_path / "model"
    rc = main(
        [
            "train-motion",
            "--data", str(data),
            "--cache", str(tmp_path / "cache"),
            "--out", str(out),
            "--synthetic", "2",
            "--steps", "3",
            "--batch", "4",
            "--size", "debug",
        ]
    )  # fmt: skip
    assert rc == 0
    assert (out / "diffusion_pytorch_model.safetensors").is_file()
    card = (out / "MODEL_CARD.md").read_text()
    assert "| real | 1 |" in card and "| synthetic | 2 |" in card
    gen = DiffusionMotionGenerator.from_pretrained(out)
    feats = compute_features(Speech(np.zeros(16000, np.float32)), FPS, 25)
    motion = gen(feats, {k: np.zeros(25, np.float32) for k in ("jaw_open",)} | _rest(25))
    assert len(motion) == 25


def _rest(n: int) -> dict[str, np.ndarray]:
    from avatar.motion.mouth import CHANNELS

    return {k: np.zeros(n, np.float32) for k in CHANNELS}


shipped = pytest.mark.skipif(motion_model_dir() is None, reason="no shipped motion model")


@shipped
def test_shipped_model_follows_visemes_blinks_and_joins_smoothly(clip):
    feats, mouth = clip
    gen = DiffusionMotionGenerator.from_pretrained(motion_model_dir())
    motion = gen(feats, mouth, MotionControls(seed=0))
    r = np.corrcoef(motion["jaw_open"], mouth["jaw_open"])[0, 1]
    assert r >= 0.6
    # The model may open further than the viseme curve, never narrower, and closures stay shut.
    from avatar.motion.diffusion.sampler import _LIMITS, JAW_CLOSED

    lo, hi = _LIMITS.get("jaw_open", (-np.inf, np.inf))
    viseme = np.clip(mouth["jaw_open"], lo, hi)
    assert np.all(motion["jaw_open"] >= viseme - 1e-6)
    shut = mouth["jaw_open"] <= JAW_CLOSED
    assert shut.any() and np.allclose(motion["jaw_open"][shut], viseme[shut], atol=1e-6)
    per_min = _blinks(motion["blink_left"]) / (len(motion) / FPS / 60)
    assert 10 <= per_min <= 30
    yaw = np.asarray(motion["yaw"], np.float64)
    assert 0.5 < yaw.std() < 8
    # No jump at window joins larger than the typical frame-to-frame motion.
    step = np.abs(np.diff(yaw))
    window, joins = gen.model.config.window, []
    start = 0
    while start + window < len(yaw):
        start += window - CROSSFADE
        joins += list(range(start - 1, start + CROSSFADE))
    assert step[joins].max() <= np.percentile(step, 99)
    other = gen(feats, mouth, MotionControls(seed=1))
    assert np.abs(other["yaw"] - motion["yaw"]).mean() > 0.3


@shipped
def test_shipped_model_knobs(clip):
    feats, mouth = _slice(*clip, 12.0)
    gen = DiffusionMotionGenerator.from_pretrained(motion_model_dir())
    base = gen(feats, mouth, MotionControls(seed=0))
    lively = gen(feats, mouth, MotionControls(seed=0, head_motion=2.0, expression=0.0))
    assert np.allclose(lively["yaw"], 2 * base["yaw"], atol=1e-4)
    assert np.abs(lively["brow_inner"]).max() == 0
    no_blinks = gen(feats, mouth, MotionControls(seed=0, blink_rate=0.0))
    assert _blinks(base["blink_left"]) > 0 and no_blinks["blink_left"].max() == 0


@shipped
def test_default_engine_is_diffusion_when_weights_exist(monkeypatch):
    from avatar.motion import engines
    from avatar.settings import GenerationSettings

    assert GenerationSettings().motion == "diffusion"
    assert isinstance(engines.motion_generator("diffusion"), DiffusionMotionGenerator)
    assert engines.motion_generator("procedural") is generate_motion
    monkeypatch.setattr(engines, "motion_model_dir", lambda: None)
    assert GenerationSettings().motion == "procedural"


def test_fallback_to_procedural_is_announced_only_when_not_chosen(monkeypatch, tmp_path):
    from avatar.motion import engines
    from avatar.settings import GenerationSettings

    monkeypatch.setattr(engines, "diffusion_unavailable", lambda: "diffusers is not installed")
    monkeypatch.setattr(engines, "motion_model_dir", lambda: tmp_path)
    default = GenerationSettings()
    assert default.motion == "procedural" and default.motion_defaulted
    assert engines.engine_notice(default.motion, default.motion_defaulted) == (
        "Procedural motion is used because diffusers is not installed."
    )
    chosen = GenerationSettings(motion="procedural")
    assert engines.engine_notice(chosen.motion, chosen.motion_defaulted) is None
    switched = default.updated(motion="procedural")
    assert engines.engine_notice(switched.motion, switched.motion_defaulted) is None
