"""LivePortrait's implicit-keypoint arithmetic, restated (no network weights here).

Facts from KwaiVGI/LivePortrait (``src/utils/camera.py``, ``live_portrait_wrapper.py``,
``retargeting_utils.py``; see ../shared/ref/liveportrait.md §4):

* head pose comes as 66 logits per angle, bins of 3 degrees; the angle is the
  softmax *expectation* ``3 * sum(p_i * i) - 97.5`` (not an argmax);
* the rotation is ``(Rz(roll) @ Ry(yaw) @ Rx(pitch))^T`` and keypoints are
  row vectors multiplied on the right (``kp @ R``);
* a pose is applied as ``s * (kp_c @ R + exp) + [tx, ty, 0]`` (tz never used);
* the stitching MLP reads ``[x_s, x_d]`` flattened (126) and returns 63
  per-keypoint deltas plus a 2-D shift of all keypoints; the eye MLP reads
  ``[x_s, eye ratio 1, eye ratio 2, target]`` (66), the lip MLP
  ``[x_s, lip ratio, target]`` (65), both returning 63 deltas in final
  keypoint space.

The reference measures the eye/lip "open ratios" on its own 203-point
landmarks (opening / width). We never run that landmarker (nor InsightFace):
the same ratios are measured on our MediaPipe mesh, with the analogous points
(mid upper/lower lid over the eye corners; inner-lip midpoints over the mouth
corners). Both are opening-over-width, so they share scale, but no calibration
against the 203-point model was possible here (no weights offline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

N_KP = 21
N_BINS = 66
BIN_DEGREES = 3.0
BIN_OFFSET = 97.5  # the reference's centre: bins span (-97.5, +97.5) degrees

# MediaPipe points for the reference's ratios (indices of the 478-point mesh).
# Eye "1" of the 203-point model is the image-left eye (the subject's right), the
# order its contours are listed in [infer]; each ratio is mid-lid gap / corner distance.
EYE_RATIO_POINTS = (
    (159, 145, 33, 133),  # subject's right eye: upper lid, lower lid, outer, inner corner
    (386, 374, 263, 362),  # subject's left eye
)
LIP_RATIO_POINTS = (13, 14, 61, 291)  # inner upper lip, inner lower lip, mouth corners
RATIO_EPS = 1e-6


# --------------------------------------------------------------------------- pose


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """(B, 66) pose logits -> (B,) degrees, the softmax expectation over 3-degree bins."""
    idx = torch.arange(logits.shape[-1], device=logits.device, dtype=torch.float32)
    p = torch.softmax(logits.float(), dim=-1)
    return (p * idx).sum(-1) * BIN_DEGREES - BIN_OFFSET


def degrees_to_bins(degrees: torch.Tensor | float, n_bins: int = N_BINS) -> torch.Tensor:
    """Logits whose softmax expectation is ``degrees``: mass split over the two nearest bins.

    The inverse of ``bins_to_degrees`` (to within 1e-6 degrees), for tests and stand-ins.
    """
    deg = torch.as_tensor(degrees, dtype=torch.float64).reshape(-1)
    pos = ((deg + BIN_OFFSET) / BIN_DEGREES).clamp(0, n_bins - 1)
    lo = pos.floor().long().clamp(max=n_bins - 2)
    frac = pos - lo
    p = torch.full((deg.numel(), n_bins), 1e-30, dtype=torch.float64)
    rows = torch.arange(deg.numel())
    p[rows, lo] = 1 - frac + 1e-30
    p[rows, lo + 1] = frac + 1e-30
    return p.log().float()


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) ``(Rz(roll) Ry(yaw) Rx(pitch))^T`` from angles in degrees (any (B,) or (B, 1))."""
    p, y, r = (
        torch.as_tensor(a, dtype=torch.float32).reshape(-1) * (math.pi / 180)
        for a in (pitch, yaw, roll)
    )
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1)
    rz = torch.stack([r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one], -1)
    rot = rz.view(-1, 3, 3) @ ry.view(-1, 3, 3) @ rx.view(-1, 3, 3)
    return rot.transpose(1, 2)


def transform_keypoints(
    kp_c: torch.Tensor, rot: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """``s * (kp_c @ R + exp) + [tx, ty, 0]``: (B, 21, 3) canonical -> posed keypoints."""
    b = rot.shape[0]
    kp = kp_c.reshape(-1, N_KP, 3) @ rot + exp.reshape(-1, N_KP, 3)
    kp = kp * scale.reshape(b, 1, 1)
    shift = torch.zeros(b, 1, 3, dtype=kp.dtype, device=kp.device)
    shift[:, 0, :2] = t.reshape(b, -1)[:, :2]
    return kp + shift


@dataclass
class KeypointInfo:
    """A portrait's decoded motion-extractor output (all float32, batch first)."""

    kp_c: torch.Tensor  # (B, 21, 3) canonical keypoints
    exp: torch.Tensor  # (B, 21, 3) expression deformation
    scale: torch.Tensor  # (B, 1)
    t: torch.Tensor  # (B, 3); only tx, ty are used
    pitch: torch.Tensor  # (B,) degrees
    yaw: torch.Tensor
    roll: torch.Tensor

    @property
    def rotation(self) -> torch.Tensor:
        return rotation_matrix(self.pitch, self.yaw, self.roll)

    def keypoints(self) -> torch.Tensor:
        """The posed keypoints x = s (kp_c R + exp) + t."""
        return transform_keypoints(self.kp_c, self.rotation, self.exp, self.scale, self.t)


def decode_motion(raw: dict[str, torch.Tensor]) -> KeypointInfo:
    """The motion extractor's raw dict (logits and vectors) -> ``KeypointInfo``."""
    b = raw["kp"].shape[0]
    return KeypointInfo(
        kp_c=raw["kp"].float().reshape(b, N_KP, 3),
        exp=raw["exp"].float().reshape(b, N_KP, 3),
        scale=raw["scale"].float().reshape(b, 1),
        t=raw["t"].float().reshape(b, 3),
        pitch=bins_to_degrees(raw["pitch"]),
        yaw=bins_to_degrees(raw["yaw"]),
        roll=bins_to_degrees(raw["roll"]),
    )


# --------------------------------------------------------------------------- MLP inputs


def stitching_input(x_s: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
    """(B, 126): source then driving keypoints, each flattened keypoint-major."""
    b = x_d.shape[0]
    return torch.cat([x_s.reshape(b, -1), x_d.reshape(b, -1)], dim=1)


def apply_stitching(x_d: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """x_d + the stitching output: 63 per-keypoint deltas, then (dx, dy) on every keypoint."""
    b = x_d.shape[0]
    out = x_d + delta[:, : 3 * N_KP].reshape(b, N_KP, 3)
    shift = torch.zeros_like(out[:, :1])
    shift[..., :2] = delta[:, 3 * N_KP : 3 * N_KP + 2].reshape(b, 1, 2)
    return out + shift


def eye_input(x_s: torch.Tensor, source_ratios: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 66): source keypoints, the source's two eye ratios, one target eye ratio."""
    b = target.reshape(-1).shape[0]
    xs = x_s.reshape(-1, 3 * N_KP).expand(b, -1)
    return torch.cat([xs, source_ratios.reshape(-1, 2).expand(b, -1), target.reshape(b, 1)], 1)


def lip_input(x_s: torch.Tensor, source_ratio: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 65): source keypoints, the source's lip ratio, one target lip ratio."""
    b = target.reshape(-1).shape[0]
    xs = x_s.reshape(-1, 3 * N_KP).expand(b, -1)
    return torch.cat([xs, source_ratio.reshape(-1, 1).expand(b, -1), target.reshape(b, 1)], 1)


# --------------------------------------------------------------------------- ratios


def _ratio(xy: np.ndarray, a: int, b: int, c: int, d: int) -> float:
    gap = float(np.linalg.norm(xy[a] - xy[b]))
    width = float(np.linalg.norm(xy[c] - xy[d]))
    return gap / (width + RATIO_EPS)


def eye_open_ratios(landmarks: np.ndarray) -> np.ndarray:
    """(2,) eye-open ratios (lid gap / eye width) from (478, 2|3) MediaPipe landmarks."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.array([_ratio(xy, *pts) for pts in EYE_RATIO_POINTS], dtype=np.float32)


def lip_open_ratio(landmarks: np.ndarray) -> float:
    """Lip-open ratio (inner-lip gap / mouth width) from (478, 2|3) MediaPipe landmarks."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return _ratio(xy, *LIP_RATIO_POINTS)
