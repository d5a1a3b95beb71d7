"""Conv + BatchNorm building blocks shared by the appearance and warping networks.

Attribute names (``conv``, ``norm``, ``conv1`` ...) are part of the checkpoint
format: they become the state_dict keys of the released files.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SameBlock2d(nn.Module):
    """3x3 conv, BatchNorm, ReLU (LeakyReLU 0.01 with ``lrelu``); keeps the size."""

    def __init__(self, cin: int, cout: int, lrelu: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(cout)
        self.negative_slope = 0.01 if lrelu else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x, self.negative_slope) if self.negative_slope else F.relu(x)


class DownBlock2d(nn.Module):
    """3x3 conv, BatchNorm, ReLU, then 2x2 average pooling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class ResBlock3d(nn.Module):
    """Pre-activation residual block on a 3-D volume (BN, ReLU, conv, twice)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels)
        self.norm2 = nn.BatchNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return x + y


class DownBlock3d(nn.Module):
    """3x3x3 conv, BatchNorm, ReLU, then halve height and width (depth is kept)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), (1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest 1x2x2 upsampling, then 3x3x3 conv, BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class _Encoder(nn.Module):
    def __init__(self, be: int, cin: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        widths = [min(max_features, be * 2 ** (i + 1)) for i in range(num_blocks)]
        ins = [cin, *widths[:-1]]
        self.down_blocks = nn.ModuleList(DownBlock3d(i, o) for i, o in zip(ins, widths))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class _Decoder(nn.Module):
    def __init__(self, be: int, cin: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width_in = min(max_features, be * 2 ** (i + 1))
            # every block after the first also gets the matching encoder output (same width)
            factor = 1 if i == num_blocks - 1 else 2
            blocks.append(UpBlock3d(factor * width_in, min(max_features, be * 2**i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = be + cin
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        out = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1])):
            out = torch.cat([block(out), skip], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass(nn.Module):
    """3-D U-Net: ``num_blocks`` down blocks, as many up blocks with skip concatenation."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = _Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = _Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
