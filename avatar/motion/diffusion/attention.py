"""The motion denoiser's transformer layers, with attention dispatched per device.

On a CUDA device with xformers installed, attention runs through
``xformers.ops.memory_efficient_attention``; everywhere else through PyTorch's
``scaled_dot_product_attention``. The layers keep the parameter names of
``torch.nn.TransformerEncoderLayer`` (pre-norm, GELU), so checkpoints saved with
it load unchanged, and compute the same function (tests compare both).
"""

from __future__ import annotations

import functools
import importlib.util

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("sdpa", "xformers")


@functools.lru_cache(maxsize=1)
def xformers_installed() -> bool:
    """Whether ``xformers.ops`` imports here (the package is GPU-only in practice)."""
    if importlib.util.find_spec("xformers") is None:
        return False
    try:
        import xformers.ops  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken xformers build is the same as none
        return False
    return True


def attention_backend(device: torch.device | str) -> str:
    """ "xformers" on a CUDA device when xformers is installed, else "sdpa"."""
    if torch.device(device).type == "cuda" and xformers_installed():
        return "xformers"
    return "sdpa"


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    backend: str | None = None,
) -> torch.Tensor:
    """Multi-head attention of (B, H, T, D) queries, keys and values -> (B, H, T, D).

    ``key_padding_mask`` (B, T) is True on keys to ignore (padding frames).
    """
    backend = backend or attention_backend(q.device)
    if backend not in BACKENDS:
        raise ValueError(f"Unknown attention backend '{backend}'; use one of {BACKENDS}.")
    bias = None
    if key_padding_mask is not None:
        b, _, t, _ = q.shape
        bias = torch.zeros(b, 1, 1, k.shape[2], dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(key_padding_mask.view(b, 1, 1, -1), float("-inf"))
    if backend == "xformers":
        import xformers.ops as xops

        if bias is not None:  # xformers wants the bias at full (B, H, Tq, Tk) size
            bias = bias.expand(-1, q.shape[1], q.shape[2], -1)
        out = xops.memory_efficient_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_bias=bias, p=dropout_p
        )
        return out.transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)


class SelfAttention(nn.Module):
    """Packed q/k/v projection and output projection (``nn.MultiheadAttention``'s names)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}.")
        self.n_heads = n_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None):
        b, t, d = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, -1)
        q, k, v = (y.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for y in (q, k, v))
        p = self.dropout if self.training else 0.0
        out = attention(q, k, v, key_padding_mask, dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class DenoiserLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(norm1(x)), then x + ff(norm2(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = SelfAttention(d_model, n_heads, dropout)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None):
        x = x + self.dropout1(self.self_attn(self.norm1(x), key_padding_mask))
        ff = self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x)))))
        return x + self.dropout2(ff)


class DenoiserBlocks(nn.Module):
    """``n_layers`` layers under ``.layers`` (the keys ``nn.TransformerEncoder`` saves)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            DenoiserLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers)
        )

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None):
        for layer in self.layers:
            x = layer(x, src_key_padding_mask)
        return x
