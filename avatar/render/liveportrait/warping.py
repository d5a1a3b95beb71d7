"""W: the warping network (keypoints -> dense 3-D flow -> warped, occlusion-masked features).

Coordinates are normalised to [-1, 1] on every axis of the (D, H, W) feature
volume, ordered (x right, y down, z into the screen); grid cells sit at
2 i / (n - 1) - 1 while sampling uses ``align_corners=False``, exactly as the
released model was trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatar.render.liveportrait.blocks import Hourglass, SameBlock2d
from avatar.render.liveportrait.config import WarpingDims


def coordinate_grid(depth: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(D, H, W, 3) grid of (x, y, z) in [-1, 1], ends included."""

    def axis(n: int) -> torch.Tensor:
        return 2 * (torch.arange(n, dtype=like.dtype, device=like.device) / (n - 1)) - 1

    z, y, x = torch.meshgrid(axis(depth), axis(height), axis(width), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


class DenseMotionNetwork(nn.Module):
    """Blends K+1 per-keypoint translations into one flow and predicts the occlusion map."""

    def __init__(self, d: WarpingDims) -> None:
        super().__init__()
        self.num_kp = d.num_kp
        self.kp_variance = d.kp_variance
        in_features = (d.num_kp + 1) * (d.compress + 1)
        self.hourglass = Hourglass(
            d.dense_block_expansion, in_features, d.dense_num_blocks, d.dense_max_features
        )
        out = self.hourglass.out_filters
        self.mask = nn.Conv3d(out, d.num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(d.feature_channel, d.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(d.compress)
        self.occlusion = nn.Conv2d(out * d.reshape_depth, 1, kernel_size=7, padding=3)

    def forward(
        self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        feature = F.relu(self.norm(self.compress(feature)))
        b, c, d, h, w = feature.shape
        k = self.num_kp + 1
        grid = coordinate_grid(d, h, w, feature)  # (D, H, W, 3)

        # Motion k maps a driving-frame location to the source: background (k = 0) stays
        # put, keypoint j translates by kp_source[j] - kp_driving[j].
        kp_d = kp_driving.view(b, self.num_kp, 1, 1, 1, 3)
        kp_s = kp_source.view(b, self.num_kp, 1, 1, 1, 3)
        per_kp = grid.view(1, 1, d, h, w, 3) - kp_d + kp_s
        sparse = torch.cat([grid.expand(b, 1, d, h, w, 3), per_kp], dim=1)  # (B,K+1,D,H,W,3)

        repeated = feature.unsqueeze(1).expand(b, k, c, d, h, w).reshape(b * k, c, d, h, w)
        deformed = F.grid_sample(repeated, sparse.reshape(b * k, d, h, w, 3), align_corners=False)
        deformed = deformed.view(b, k, c, d, h, w)

        def gaussian(kp: torch.Tensor) -> torch.Tensor:
            diff = grid.view(1, 1, d, h, w, 3) - kp.view(b, self.num_kp, 1, 1, 1, 3)
            return torch.exp(-0.5 * (diff**2).sum(-1) / self.kp_variance)

        heat = gaussian(kp_driving) - gaussian(kp_source)  # (B, K, D, H, W)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1).unsqueeze(2)

        # channel index k * (c + 1) + j: j = 0 the heatmap, j >= 1 the deformed features
        stacked = torch.cat([heat, deformed], dim=2).view(b, k * (c + 1), d, h, w)
        prediction = self.hourglass(stacked)

        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (sparse * mask.unsqueeze(-1)).sum(dim=1)  # (B, D, H, W, 3)
        pb, pc, pd, ph, pw = prediction.shape
        occlusion = torch.sigmoid(self.occlusion(prediction.reshape(pb, pc * pd, ph, pw)))
        return {"mask": mask, "deformation": deformation, "occlusion_map": occlusion}


class WarpingNetwork(nn.Module):
    """(f_s (B,32,16,64,64), x_d (B,21,3), x_s (B,21,3)) -> features (B,256,64,64).

    Note the argument order, driving before source, as in the released model.
    Returns a dict with 'out', 'occlusion_map' (B,1,64,64) and 'deformation'
    (B,16,64,64,3).
    """

    def __init__(self, dims: WarpingDims | None = None) -> None:
        super().__init__()
        d = dims or WarpingDims()
        self.dims = d
        self.dense_motion_network = DenseMotionNetwork(d)
        self.third = SameBlock2d(d.max_features, d.out_channels, lrelu=True)
        self.fourth = nn.Conv2d(d.out_channels, d.out_channels, kernel_size=1)

    def forward(
        self, feature_3d: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        dense = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        warped = F.grid_sample(feature_3d, dense["deformation"], align_corners=False)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.reshape(b, c * d, h, w)))
        occlusion = dense["occlusion_map"]
        return {
            "out": out * occlusion,
            "occlusion_map": occlusion,
            "deformation": dense["deformation"],
        }
