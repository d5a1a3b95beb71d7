"""F: the appearance feature extractor (source crop -> 3-D feature volume f_s).

Runs once per source portrait. Input is RGB in [0, 1] without mean/std
normalisation; the 2-D features are folded into a volume (channel index
c * depth + d) and refined by 3-D residual blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from avatar.render.liveportrait.blocks import DownBlock2d, ResBlock3d, SameBlock2d
from avatar.render.liveportrait.config import AppearanceDims


class AppearanceFeatureExtractor(nn.Module):
    """(B, 3, 256, 256) in [0, 1] -> (B, 32, 16, 64, 64) with the released sizes."""

    def __init__(self, dims: AppearanceDims | None = None) -> None:
        super().__init__()
        d = dims or AppearanceDims()
        self.dims = d
        self.first = SameBlock2d(d.image_channel, d.block_expansion)
        widths = [
            min(d.max_features, d.block_expansion * 2**i) for i in range(d.num_down_blocks + 1)
        ]
        self.down_blocks = nn.ModuleList(
            DownBlock2d(cin, cout) for cin, cout in zip(widths[:-1], widths[1:])
        )
        self.second = nn.Conv2d(widths[-1], d.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(d.num_resblocks):
            # "3dr{i}" is the released checkpoints' child name
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(d.reshape_channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.first(x)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        b, _, h, w = out.shape
        volume = out.view(b, self.dims.reshape_channel, self.dims.reshape_depth, h, w)
        return self.resblocks_3d(volume)
