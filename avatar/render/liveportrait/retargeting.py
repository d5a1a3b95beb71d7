"""S, R_eye, R_lip: the small MLPs that correct driving keypoints.

The same architecture serves three roles: 'stitching' (source + driving
keypoints -> 63 deltas + a 2-D shift, keeps the shoulders in place), 'eye'
and 'lip' (source keypoints + source/target open ratios -> 63 deltas).
"""

from __future__ import annotations

import torch
from torch import nn

from avatar.render.liveportrait.config import MLPDims


class StitchingRetargetingNetwork(nn.Module):
    """Linear-ReLU-...-Linear; the Linear layers sit at even indices of ``mlp``."""

    def __init__(self, dims: MLPDims) -> None:
        super().__init__()
        self.dims = dims
        sizes = [dims.input_size, *dims.hidden_sizes]
        layers: list[nn.Module] = []
        for cin, cout in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(cin, cout), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], dims.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)
