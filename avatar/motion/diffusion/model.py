"""MotionDenoiser: a small transformer that predicts clean motion (x0) from a noisy window.

Tokens are the frames of one window, preceded by a prefix of already generated
(or, in training, real) frames. Audio enters *per frame*: the conditioning
matrix is projected and passed through a width-5 temporal convolution (each
frame sees its audio ±2 frames, as FLOAT's local attention does) and added to
that frame's token, so lips and nods stay locked to their own audio while
self-attention shapes the longer head movements (xformers' memory-efficient
attention on a GPU that has it, PyTorch's SDPA elsewhere). The diffusion time is added
to every token and modulates the output norm. A learned null embedding
replaces the audio for classifier-free guidance. Per-channel mean/std of the
training motion live in the config, so a saved folder is self-contained.
"""

from __future__ import annotations

import math

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from avatar.motion.diffusion.attention import DenoiserBlocks


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (B,) diffusion steps."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class MotionDenoiser(ModelMixin, ConfigMixin):
    """x0-predicting denoiser over ``(prefix + window)`` motion frames."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        n_channels: int = 15,
        cond_dim: int = 28,
        d_model: int = 160,
        n_layers: int = 4,
        n_heads: int = 4,
        ff_mult: int = 3,
        window: int = 100,
        prefix: int = 20,
        cond_kernel: int = 5,
        dropout: float = 0.0,
        channel_names: tuple[str, ...] | list[str] = (),
        cond_names: tuple[str, ...] | list[str] = (),
        channel_mean: tuple[float, ...] | list[float] = (),
        channel_std: tuple[float, ...] | list[float] = (),
        fps: float = 25.0,
        head_amount_deg: float = 2.5,
        guidance_scale: float = 1.5,
        pause_gain: float = 1.0,
        pitch_gain: float = 1.0,
        num_inference_steps: int = 10,
        num_train_timesteps: int = 100,
    ) -> None:
        super().__init__()
        d = d_model
        self.in_proj = nn.Linear(n_channels, d)
        self.prefix_proj = nn.Linear(n_channels, d)
        self.cond_proj = nn.Linear(cond_dim, d)
        self.cond_conv = nn.Conv1d(d, d, cond_kernel, padding=cond_kernel // 2)
        self.null_cond = nn.Parameter(torch.zeros(d))
        self.no_prefix = nn.Parameter(torch.zeros(prefix, d))
        self.pos = nn.Parameter(torch.randn(prefix + window, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # Pre-norm GELU layers keyed like nn.TransformerEncoder; attention goes through
        # xformers on a GPU that has it, else PyTorch's scaled-dot-product attention.
        self.blocks = DenoiserBlocks(d, n_heads, ff_mult * d, dropout, n_layers)
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_mod = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, n_channels)
        nn.init.zeros_(self.out_mod.weight)
        nn.init.zeros_(self.out_mod.bias)

    def encode_cond(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, T, cond_dim) -> (B, T, d): per-frame audio embedding with ±2-frame context."""
        h = self.cond_proj(cond)
        return h + torch.nn.functional.gelu(self.cond_conv(h.transpose(1, 2))).transpose(1, 2)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        cond: torch.Tensor,
        prefix: torch.Tensor | None = None,
        prefix_keep: torch.Tensor | None = None,
        cond_keep: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict x0 for ``sample`` (B, T, C), T <= window.

        ``prefix`` (B, P, C) normalised motion before the window; ``prefix_keep``
        (B,) 0 replaces it by the learned "no prefix" tokens. ``cond_keep`` (B,)
        0 replaces the audio by the null embedding. ``frame_mask`` (B, T) is
        False on padding frames.
        """
        b, t, _ = sample.shape
        p = self.config.prefix
        if timestep.ndim == 0:
            timestep = timestep.expand(b)
        temb = self.time_mlp(timestep_embedding(timestep.to(sample.device), self.config.d_model))
        audio = self.encode_cond(cond)
        if cond_keep is not None:
            keep = cond_keep.view(b, 1, 1).to(audio.dtype)
            audio = keep * audio + (1 - keep) * self.null_cond
        x = self.in_proj(sample) + audio
        no_pre = self.no_prefix.unsqueeze(0).expand(b, -1, -1)
        if prefix is None:
            pre = no_pre
        else:
            pre = self.prefix_proj(prefix)
            if prefix_keep is not None:
                k = prefix_keep.view(b, 1, 1).to(pre.dtype)
                pre = k * pre + (1 - k) * no_pre
        h = torch.cat([pre, x], 1) + self.pos[: p + t].unsqueeze(0) + temb.unsqueeze(1)
        pad = None
        if frame_mask is not None:
            pad = torch.cat(
                [torch.zeros(b, p, dtype=torch.bool, device=h.device), ~frame_mask.bool()], 1
            )
        h = self.blocks(h, src_key_padding_mask=pad)[:, p:]
        shift, scale = self.out_mod(temb).unsqueeze(1).chunk(2, -1)
        return self.out(self.out_norm(h) * (1 + scale) + shift)
