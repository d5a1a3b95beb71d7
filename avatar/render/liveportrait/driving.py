"""Our ``Motion`` channels -> LivePortrait driving keypoints, relative to the source.

The template is the reference's parameter-driven editor
(``gradio_pipeline.execute_image_retargeting``; ref §4.8): pose deltas are
added to the source's own angles, expression handles add fixed per-keypoint
offsets to the source's expression deformation, eye/lip retargeting MLPs move
the keypoints toward a target open ratio, and the stitching MLP keeps the
shoulders in place:

    x_d = s_s (1 + scale) (kp_c R(pose_s + dpose) + exp_s + handles) + t_s + dt
    x_d += eye(x_s, c_s, target) - eye(x_s, c_s, c_s)
         + lip(x_s, c_s, target) - lip(x_s, c_s, c_s)
    x_d += stitch(x_s, x_d) - stitch(x_s, x_s)

Deviation from the reference, on purpose: each MLP correction is taken
*relative to its value at rest* (the editor instead skips the eye/lip nets
when the slider equals the source ratio, and always adds the raw stitching
output). So an all-zero motion frame reproduces the source keypoints exactly
and the corrections change continuously as a channel leaves zero.

Signs (no weights offline to check them against rendered frames): keypoints
are in image axes, x right and y down, and z is taken to point into the image
(ref §3.4). Then a positive reference pitch moves points in front of the
centre (the nose) down, a positive roll turns the image clockwise, and a
positive yaw moves the nose to the viewer's left; our yaw (positive turns the
face to the viewer's right) therefore enters negated. ``HEAD_SIGNS`` is the
one place to flip if real weights show otherwise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from avatar.motion.types import CHANNEL_INDEX, CHANNELS
from avatar.render.liveportrait.keypoints import (
    N_KP,
    KeypointInfo,
    apply_stitching,
    eye_input,
    lip_input,
    rotation_matrix,
    stitching_input,
    transform_keypoints,
)

#: Our pitch, yaw, roll (degrees) -> the reference's, per the docstring.
HEAD_SIGNS = {"pitch": 1.0, "yaw": -1.0, "roll": 1.0}
LIP_OPEN_MAX = 0.7  # target lip-open ratio at jaw_open = 1 (the editor's slider ends at 0.8)
LIP_GAP_WEIGHT = 0.25  # upper_lip_raise / lower_lip_depress part the lips a little too

# Expression handles: (keypoint, axis, offset per unit of the reference editor's
# slider), restated from its update_delta_new_* functions, and our gain from a
# Motion channel's unit to that slider's unit.
SMILE = ((20, 1, -0.01), (14, 1, -0.02), (17, 1, 0.0065), (17, 2, 0.003),
         (13, 1, -0.00275), (16, 1, -0.00275), (3, 1, -0.0035), (7, 1, -0.0035))  # fmt: skip
GRIN = ((20, 2, -0.001), (20, 1, -0.001), (14, 1, -0.001))
PURSE = ((14, 1, 0.001), (3, 1, -0.0005), (7, 1, -0.0005), (17, 2, -0.0005))
BROW_RAISE = ((1, 1, 0.001), (2, 1, -0.001))
BROW_LOWER = ((1, 0, -0.001), (2, 0, 0.001), (1, 1, 0.0003), (2, 1, -0.0003))  # slider < 0
GAZE_RIGHT = ((11, 0, 0.0007), (15, 0, 0.001))
GAZE_LEFT = ((11, 0, 0.001), (15, 0, 0.0007))  # slider < 0
GAZE_UP = ((11, 1, -0.0005), (15, 1, -0.0005), (13, 1, -0.00015), (16, 1, -0.00015))

SMILE_GAIN = 1.0  # smile 0..1 -> slider 0..1 (its range is -0.3..1.3)
GRIN_GAIN = 10.0  # lip_spread 0..1 -> grin 0..10 (range 0..15)
PURSE_GAIN = 10.0  # lip_spread 0..-1 -> pursing 0..10: pursing opposes smile on keypoint 14
BROW_GAIN = 20.0  # mean brow -1..1 -> eyebrow slider -20..20 (range -30..30)
GAZE_X_GAIN = 20.0  # gaze_x -1..1 -> horizontal slider -20..20 (range -30..30)
GAZE_Y_GAIN = -30.0  # gaze_y positive is down; the vertical slider's positive is up


def _basis(*entries) -> torch.Tensor:
    b = torch.zeros(N_KP, 3)
    for k, axis, coef in entries:
        b[k, axis] += coef
    return b


@dataclass
class SourceKeypoints:
    """What driving needs from the source portrait (all batch 1, float32, CPU)."""

    info: KeypointInfo
    x_s: torch.Tensor  # (1, 21, 3) posed source keypoints
    eye_ratios: torch.Tensor  # (1, 2) the source's eye-open ratios
    lip_ratio: torch.Tensor  # (1, 1) the source's lip-open ratio
    face_width: float  # the face's width in keypoint units (tx, ty are in face widths)


class MotionDriver:
    """Maps (B, D) Motion rows to (B, 21, 3) driving keypoints; runs on CPU in float32.

    The three MLPs are tiny (0.23 M parameters); private CPU copies keep this
    independent of where the big networks live (GPU, offloaded, half precision).
    ``stitching``, ``eye`` or ``lip`` may be None to skip that correction.
    """

    def __init__(
        self,
        source: SourceKeypoints,
        *,
        stitching: nn.Module | None,
        eye: nn.Module | None,
        lip: nn.Module | None,
    ) -> None:
        self.source = source
        self.stitching, self.eye, self.lip = (
            None if m is None else copy.deepcopy(m).to("cpu", torch.float32).eval()
            for m in (stitching, eye, lip)
        )
        self._handles = {
            "smile": _basis(*SMILE),
            "grin": _basis(*GRIN),
            "purse": _basis(*PURSE),
            "brow_up": _basis(*BROW_RAISE),
            "brow_down": _basis(*BROW_LOWER),
            "gaze_right": _basis(*GAZE_RIGHT),
            "gaze_left": _basis(*GAZE_LEFT),
            "gaze_up": _basis(*GAZE_UP),
        }
        with torch.no_grad():
            x_s = source.x_s
            self._stitch_rest = (
                None if self.stitching is None else self.stitching(stitching_input(x_s, x_s))
            )
            c_eye = source.eye_ratios.mean(1, keepdim=True)
            self._eye_rest = None if self.eye is None else self._eye_delta(c_eye)
            self._lip_rest = None if self.lip is None else self._lip_delta(source.lip_ratio)

    # ----------------------------------------------------------------- pieces

    def expression_offsets(self, m: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 21, 3) handle offsets added to the source expression deformation."""
        h = self._handles
        spread = m["lip_spread"]
        brow = (m["brow_inner"] + m["brow_outer"]) / 2
        gx, gy = m["gaze_x"] * GAZE_X_GAIN, m["gaze_y"] * GAZE_Y_GAIN
        weights = {
            "smile": m["smile"] * SMILE_GAIN,
            "grin": spread.clamp(min=0) * GRIN_GAIN,
            "purse": (-spread).clamp(min=0) * PURSE_GAIN,
            "brow_up": (brow * BROW_GAIN).clamp(min=0),
            "brow_down": (brow * BROW_GAIN).clamp(max=0),
            "gaze_right": gx.clamp(min=0),
            "gaze_left": gx.clamp(max=0),
            "gaze_up": gy,
        }
        return sum(weights[k][:, None, None] * h[k] for k in weights)

    def eye_target(self, m: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 1) target eye-open ratio: the source's, closed in proportion to the blink.

        The reference's eye net takes one target for both eyes, so the two
        blinks are averaged (a wink becomes a half blink of both).
        """
        blink = ((m["blink_left"] + m["blink_right"]) / 2).clamp(0, 1)
        c_s = self.source.eye_ratios.mean(1)
        return (c_s * (1 - blink))[:, None]

    def lip_target(self, m: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, 1) target lip-open ratio: from the source's toward LIP_OPEN_MAX as the jaw opens."""
        c_s = self.source.lip_ratio.reshape(())
        gap = m["jaw_open"] + LIP_GAP_WEIGHT * (m["upper_lip_raise"] + m["lower_lip_depress"])
        opening = gap.clamp(0, 1)
        return (c_s + opening * (max(LIP_OPEN_MAX, float(c_s)) - c_s))[:, None]

    def _eye_delta(self, target: torch.Tensor) -> torch.Tensor:
        x = eye_input(self.source.x_s, self.source.eye_ratios, target)
        return self.eye(x).reshape(-1, N_KP, 3)

    def _lip_delta(self, target: torch.Tensor) -> torch.Tensor:
        x = lip_input(self.source.x_s, self.source.lip_ratio, target)
        return self.lip(x).reshape(-1, N_KP, 3)

    # ----------------------------------------------------------------- driving

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(B, D) or (D,) Motion rows -> (B, 21, 3) float32 driving keypoints (CPU)."""
        rows = torch.as_tensor(np.atleast_2d(np.asarray(frames, np.float32)))
        if rows.shape[1] != len(CHANNELS):
            raise ValueError(f"Motion frames must have {len(CHANNELS)} channels")
        m = {name: rows[:, CHANNEL_INDEX[name]] for name in CHANNELS}
        b = rows.shape[0]
        info = self.source.info
        rot = rotation_matrix(
            info.pitch + HEAD_SIGNS["pitch"] * m["pitch"],
            info.yaw + HEAD_SIGNS["yaw"] * m["yaw"],
            info.roll + HEAD_SIGNS["roll"] * m["roll"],
        )
        exp = info.exp + self.expression_offsets(m)
        scale = info.scale * (1 + m["scale"])[:, None]
        t = info.t.expand(b, 3).clone()
        t[:, 0] += m["tx"] * self.source.face_width
        t[:, 1] += m["ty"] * self.source.face_width
        x_d = transform_keypoints(info.kp_c.expand(b, -1, -1), rot, exp, scale, t)
        if self.eye is not None:
            x_d = x_d + self._eye_delta(self.eye_target(m)) - self._eye_rest
        if self.lip is not None:
            x_d = x_d + self._lip_delta(self.lip_target(m)) - self._lip_rest
        if self.stitching is not None:
            x_s = self.source.x_s.expand(b, -1, -1)
            delta = self.stitching(stitching_input(x_s, x_d)) - self._stitch_rest
            x_d = apply_stitching(x_d, delta)
        return x_d
