"""The denoiser's attention: the same function as nn.TransformerEncoder, dispatched per device."""

from __future__ import annotations

import sys
import types

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from avatar.motion.diffusion import attention as A  # noqa: E402


def _reference(d=32, heads=4, ff=96, layers=2):
    layer = nn.TransformerEncoderLayer(
        d, heads, ff, 0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()


def test_the_layers_compute_what_nn_transformer_encoder_computes():
    torch.manual_seed(0)
    ref = _reference()
    ours = A.DenoiserBlocks(32, 4, 96, 0.0, 2).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)  # the checkpoint keys are the same
    x = torch.randn(3, 40, 32)
    pad = torch.zeros(3, 40, dtype=torch.bool)
    pad[1, 30:] = True  # a shorter window in the batch
    with torch.no_grad():
        for mask in (None, pad):
            want, got = ref(x, src_key_padding_mask=mask), ours(x, mask)
            keep = ~pad if mask is not None else torch.ones_like(pad)
            assert (want - got)[keep].abs().max() < 1e-5


def test_the_shipped_motion_model_loads_into_the_new_layers():
    from avatar.motion.diffusion.model import MotionDenoiser
    from avatar.motion.engines import motion_model_dir

    folder = motion_model_dir()
    if folder is None:
        pytest.skip("the motion model is not shipped in this install")
    model = MotionDenoiser.from_pretrained(folder)
    assert isinstance(model.blocks, A.DenoiserBlocks)
    assert len(model.blocks.layers) == model.config.n_layers


def test_cpu_uses_pytorch_attention_and_cuda_uses_xformers_when_installed(monkeypatch):
    assert A.attention_backend("cpu") == "sdpa"
    monkeypatch.setattr(A, "xformers_installed", lambda: True)
    assert A.attention_backend("cpu") == "sdpa"  # xformers is for the GPU only
    assert A.attention_backend("cuda") == "xformers"
    monkeypatch.setattr(A, "xformers_installed", lambda: False)
    assert A.attention_backend("cuda") == "sdpa"


def test_the_xformers_call_gets_its_layout_and_mask(monkeypatch):
    """A stand-in for xformers.ops checks what the dispatch hands it: (B, T, H, D) tensors
    and an additive bias that hides padded keys; its answer must equal SDPA's."""
    calls = []

    def memory_efficient_attention(q, k, v, attn_bias=None, p=0.0):
        calls.append((q.shape, None if attn_bias is None else attn_bias.shape, p))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / q.shape[-1] ** 0.5
        if attn_bias is not None:
            scores = scores + attn_bias
        return torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v)

    ops = types.ModuleType("xformers.ops")
    ops.memory_efficient_attention = memory_efficient_attention
    package = types.ModuleType("xformers")
    package.ops = ops
    monkeypatch.setitem(sys.modules, "xformers", package)
    monkeypatch.setitem(sys.modules, "xformers.ops", ops)
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 10, 8) for _ in range(3))
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[0, 7:] = True
    got = A.attention(q, k, v, pad, backend="xformers")
    want = A.attention(q, k, v, pad, backend="sdpa")
    assert calls == [((2, 10, 4, 8), (2, 4, 10, 10), 0.0)]
    assert got.shape == (2, 4, 10, 8)
    assert (got - want).abs().max() < 1e-5


def test_an_unknown_backend_is_one_sentence():
    q = torch.zeros(1, 1, 2, 4)
    with pytest.raises(ValueError, match="Unknown attention backend 'flash'"):
        A.attention(q, q, q, backend="flash")
