"""The streaming refinement stage: boxes, batching, order, pass-through, blending, precision."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avatar.refine.mel import MelChunks  # noqa: E402
from avatar.refine.wav2lip import (  # noqa: E402
    Wav2LipEngine,
    Wav2LipRefiner,
    blend_mask,
    face_box,
    smooth_boxes,
)


class FakeEngine:
    """Returns the input crop (or a shifted copy): what a perfect model of 'no change' gives."""

    device = torch.device("cpu")
    precision = "fp32"
    bf16_max_diff = None

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, mels, faces):
        self.calls.append((mels.copy(), faces.copy()))
        return np.clip(faces.astype(np.float32) + self.shift, 0, 255)


@pytest.fixture(scope="module")
def clip(luciano_rig):
    """24 rendered 256² frames with moving jaw and head, and each frame's landmarks."""
    from avatar.motion.types import CHANNEL_INDEX
    from avatar.render import WarpRenderer

    renderer = WarpRenderer(luciano_rig, size=256)
    motion = np.zeros((24, len(CHANNEL_INDEX)), np.float32)
    t = np.arange(24)
    motion[:, CHANNEL_INDEX["jaw_open"]] = 0.5 + 0.5 * np.sin(t / 2)
    motion[:, CHANNEL_INDEX["yaw"]] = 4 * np.sin(t / 5)
    frames = []
    for row in motion:
        frame = renderer.render(row)
        frames.append((frame.copy(), renderer.last_landmarks.copy()))
    return frames


@pytest.fixture(scope="module")
def mels():
    return MelChunks(np.random.default_rng(0).uniform(-4, 4, (80, 200)).astype(np.float32), 25)


def test_renderer_reports_landmarks(clip):
    frame, lm = clip[0]
    assert lm.shape == (478, 2)
    h, w = frame.shape[:2]
    assert (lm[:, 0] > 0).all() and (lm[:, 0] < w).all() and (lm[:, 1] < h).all()


def test_face_box_covers_the_lower_face(clip):
    frame, lm = clip[0]
    box = face_box(lm, frame.shape)
    x0, y0, x1, y1 = box
    mouth = lm[[13, 14, 61, 291]]
    assert (mouth[:, 0] > x0).all() and (mouth[:, 0] < x1).all()
    mid = (y0 + y1) / 2
    assert (mouth[:, 1] > mid).all()  # the mouth is in the half the model regenerates
    assert lm[1, 1] < mid + 0.1 * (y1 - y0)  # the nose tip near the mask line
    assert y1 > lm[152, 1]  # padded below the chin
    assert face_box(lm * 0.05, frame.shape) is None  # a tiny face is not refined


def test_box_smoothing_is_centred_and_stops_at_cuts():
    b = [np.array([10.0 + i, 10, 110 + i, 110]) for i in range(5)]
    np.testing.assert_allclose(smooth_boxes(b, 2), b[2])  # linear motion: no lag
    cut = b[:2] + [np.array([300.0, 10, 400, 110])] + b[3:]
    np.testing.assert_allclose(smooth_boxes(cut, 2), cut[2])  # a jump is not averaged in
    assert smooth_boxes([None, b[1], None], 0) is None


def test_blend_mask_is_feathered_and_zero_on_the_border(clip):
    frame, lm = clip[0]
    x0, y0, x1, y1 = (int(round(v)) for v in face_box(lm, frame.shape))
    mask = blend_mask(lm - (x0, y0), (x1 - x0, y1 - y0))
    assert mask.shape == (y1 - y0, x1 - x0)
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0
    assert mask[:, -1].max() == 0
    mouth = (lm[13] + lm[14]) / 2 - (x0, y0)
    assert mask[int(mouth[1]), int(mouth[0])] > 0.95
    assert mask[: int(0.25 * mask.shape[0])].max() < 0.05  # eyes and brows untouched
    step = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
    assert step < 0.2  # no hard edge anywhere


def test_streaming_order_batches_and_mel_alignment(clip, mels):
    engine = FakeEngine()
    refiner = Wav2LipRefiner(engine, mels, batch_size=5)
    inputs = [(f, None if i in (3, 4, 11) else lm) for i, (f, lm) in enumerate(clip)]
    out, held = [], 0
    for frame, lm in inputs:
        out += refiner.push(frame, lm)
        held = max(held, len(refiner._pending))
    out += refiner.flush()
    assert len(out) == len(inputs) and held <= 5 + 2
    for i in (3, 4, 11):  # no face: passed through untouched
        assert np.array_equal(out[i], inputs[i][0])
    assert refiner.stats.refined == len(inputs) - 3 and refiner.stats.passed_through == 3
    # each face got the mel window of its own frame index
    indices = [i for i in range(len(inputs)) if i not in (3, 4, 11)]
    got = np.concatenate([m for m, _ in engine.calls])
    np.testing.assert_array_equal(got, mels.batch(indices))
    assert all(len(m) <= 5 for m, _ in engine.calls)


def test_identity_model_changes_almost_nothing(clip, mels):
    """Crop, resize, mask and paste-back add no visible box, seam or colour shift."""
    refiner = Wav2LipRefiner(FakeEngine(), mels, batch_size=8)
    out = list(refiner.refine(clip))
    for (frame, lm), res in zip(clip, out):
        diff = np.abs(res.astype(np.int16) - frame.astype(np.int16))
        x0, y0, x1, y1 = (int(round(v)) for v in face_box(lm, frame.shape))
        outside = np.ones(frame.shape[:2], bool)
        outside[y0 - 3 : y1 + 3, x0 - 3 : x1 + 3] = False  # (the box is smoothed over time)
        assert diff[outside].max() == 0  # nothing outside the box moves
        assert diff.mean() < 0.5 and np.percentile(diff, 99.9) < 16


def test_colour_is_matched(clip, mels):
    """A model whose output is 30 levels too bright leaves no bright patch after matching."""
    bright = list(Wav2LipRefiner(FakeEngine(shift=30.0), mels, batch_size=8).refine(clip))
    plain = list(Wav2LipRefiner(FakeEngine(), mels, batch_size=8).refine(clip))
    for (_frame, lm), a, b in zip(clip, bright, plain):
        face = (lm[13] + lm[14]) / 2
        r = 12
        ys, xs = int(face[1]) + 2 * r, int(face[0])  # the chin, away from the lips
        patch = (slice(ys - r, ys + r), slice(xs - r, xs + r))
        shift = np.abs(a[patch].astype(float) - b[patch].astype(float)).mean()
        assert shift < 3.0


def test_real_model_end_to_end_on_frames(clip, mels, tiny_model):
    engine = Wav2LipEngine(tiny_model, device="cpu", precision="fp32")
    out = list(Wav2LipRefiner(engine, mels, batch_size=16).refine(clip[:10]))
    assert len(out) == 10 and all(o.shape == clip[0][0].shape and o.dtype == np.uint8 for o in out)
    assert any(not np.array_equal(o, f) for o, (f, _) in zip(out, clip))


def test_engine_matches_the_model(tiny_model):
    """The engine's fused, channels-last path gives the plain model's output (fp32)."""
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    mel = rng.uniform(-4, 4, (2, 1, 80, 16)).astype(np.float32)
    out = Wav2LipEngine(tiny_model, precision="fp32")(mel, faces)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    masked = x.clone()
    masked[:, :, 48:] = 0
    with torch.no_grad():
        ref = tiny_model(torch.from_numpy(mel), torch.cat([masked, x], 1))
    np.testing.assert_allclose(out, ref.permute(0, 2, 3, 1).numpy() * 255, atol=1e-3)


def test_bf16_is_used_only_when_it_keeps_the_output(tiny_model):
    from avatar.refine.wav2lip import _native_bf16

    if not _native_bf16():
        pytest.skip("this CPU has no native bf16")
    rng = np.random.default_rng(2)
    faces = rng.integers(0, 256, (4, 96, 96, 3), dtype=np.uint8)
    mel = rng.uniform(-4, 4, (4, 1, 80, 16)).astype(np.float32)
    engine = Wav2LipEngine(tiny_model, precision="auto")
    first = engine(mel, faces)  # calibration batch: exact fp32
    assert engine.precision in ("bf16", "fp32") and engine.bf16_max_diff is not None
    exact = Wav2LipEngine(tiny_model, precision="fp32")(mel, faces)
    np.testing.assert_allclose(first, exact, atol=1e-3)
    if engine.precision == "bf16":
        assert np.abs(engine(mel, faces) - exact).max() <= 6.0  # of 255


def test_bad_precision():
    with pytest.raises(ValueError):
        Wav2LipEngine(torch.nn.Module(), precision="int4")  # type: ignore[arg-type]
