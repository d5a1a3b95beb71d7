"""The generator is key-for-key the released Wav2Lip: names, shapes, order, parameter count."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from avatar.refine.wav2lip_model import Wav2Lip, Wav2LipDims, count_parameters  # noqa: E402
from tests.refine.conftest import random_model  # noqa: E402

DATA = Path(__file__).parent / "data"


def _reference_layout() -> list[tuple[str, tuple[int, ...]]]:
    layout = []
    for line in (DATA / "wav2lip_state_dict.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, shape = line.partition(" ")
        shape = shape.strip()
        layout.append((key, tuple(int(v) for v in shape.split(",")) if shape else ()))
    return layout


@pytest.fixture(scope="module")
def full_model():
    return Wav2Lip().eval()


def test_parameter_count(full_model):
    assert count_parameters(full_model) == 36_298_035
    parts = {
        name: count_parameters(getattr(full_model, name))
        for name in ("face_encoder_blocks", "audio_encoder", "face_decoder_blocks", "output_block")
    }
    assert parts == {
        "face_encoder_blocks": 8_171_056,
        "audio_encoder": 2_812_672,
        "face_decoder_blocks": 25_291_072,
        "output_block": 23_235,
    }


def test_exact_state_dict_layout(full_model):
    expected = _reference_layout()
    assert len(expected) == 352
    actual = [(k, tuple(v.shape)) for k, v in full_model.state_dict().items()]
    assert actual == expected  # same names, same shapes, same order


def test_buffers_and_batch_norms(full_model):
    bns = [m for m in full_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 50
    assert sum(b.running_mean.numel() + b.running_var.numel() for b in bns) == 22_752
    assert sum(1 for _ in full_model.parameters()) == 202


def test_tiny_variant_has_the_same_names():
    full = Wav2Lip().state_dict().keys()
    tiny = Wav2Lip(Wav2LipDims.tiny()).state_dict().keys()
    assert list(full) == list(tiny)


def test_forward_shapes_and_range(tiny_model):
    with torch.no_grad():
        out = tiny_model(torch.randn(3, 1, 80, 16), torch.rand(3, 6, 96, 96))
    assert out.shape == (3, 3, 96, 96)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_training_layout_is_time_major(tiny_model):
    """5-D input: (B, T, 1, 80, 16) + (B, 6, T, 96, 96) -> (B, 3, T, 96, 96), per time step."""
    g = torch.Generator().manual_seed(3)
    audio = torch.randn(2, 3, 1, 80, 16, generator=g)
    face = torch.rand(2, 6, 3, 96, 96, generator=g)
    with torch.no_grad():
        out = tiny_model(audio, face)
        assert out.shape == (2, 3, 3, 96, 96)
        for t in range(3):
            step = tiny_model(audio[:, t], face[:, :, t])
            torch.testing.assert_close(out[:, :, t], step, atol=1e-6, rtol=0)


def test_fused_matches_unfused():
    model = random_model(Wav2LipDims.tiny(), seed=5)
    audio, face = torch.randn(4, 1, 80, 16), torch.rand(4, 6, 96, 96)
    with torch.no_grad():
        exact = model(audio, face)
        fused = model.fused()(audio, face)
    assert float((exact - fused).abs().max()) < 1e-5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.fused().modules())


def test_dims_are_checked():
    with pytest.raises(ValueError):
        Wav2LipDims(face=(16, 32))
