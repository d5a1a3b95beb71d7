"""M: the motion extractor (ConvNeXt-V2 tiny backbone + seven linear heads).

Predicts, from a 256x256 RGB crop in [0, 1] (no mean/std normalisation), the
head pose as 66 bin logits per angle, the translation, the expression
deltas, the scale and the canonical keypoints. The raw head outputs are
returned; decoding them (soft-argmax of the bins, reshapes) is the driving
code's job.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatar.render.liveportrait.config import MotionDims


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW tensor (eps 1e-6, as ConvNeXt)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global response normalisation on NHWC tensors (ConvNeXt-V2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, LayerNorm, 4x MLP with GELU and GRN, residual (no layer scale)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class _Detector(nn.Module):
    """The backbone and heads; stored as ``detector`` so keys start with ``detector.``."""

    def __init__(self, d: MotionDims) -> None:
        super().__init__()
        dims = d.dims
        stem = nn.Sequential(nn.Conv2d(d.in_chans, dims[0], 4, stride=4), LayerNorm2d(dims[0]))
        downs = [
            nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2))
            for i in range(len(dims) - 1)
        ]
        self.downsample_layers = nn.ModuleList([stem, *downs])
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth)))
            for dim, depth in zip(dims, d.depths)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        width = dims[-1]
        self.fc_kp = nn.Linear(width, 3 * d.num_kp)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, d.num_bins)
        self.fc_yaw = nn.Linear(width, d.num_bins)
        self.fc_roll = nn.Linear(width, d.num_bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * d.num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        feat = self.norm(x.mean(dim=(-2, -1)))
        return {
            "pitch": self.fc_pitch(feat),
            "yaw": self.fc_yaw(feat),
            "roll": self.fc_roll(feat),
            "t": self.fc_t(feat),
            "exp": self.fc_exp(feat),
            "scale": self.fc_scale(feat),
            "kp": self.fc_kp(feat),
        }


class MotionExtractor(nn.Module):
    """(B, 3, 256, 256) -> dict of raw head outputs.

    Keys: 'pitch', 'yaw', 'roll' (B, 66 bin logits), 't' (B, 3), 'exp' (B, 63),
    'scale' (B, 1), 'kp' (B, 63; canonical keypoints, x/y/z fastest).
    """

    def __init__(self, dims: MotionDims | None = None) -> None:
        super().__init__()
        self.dims = dims or MotionDims()
        self.detector = _Detector(self.dims)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(x)
