"""Sealing a photo's parted lips: a relaxed closed mouth, not a pressed frown.

The face-paint portrait shows its teeth between teal lips, and the tracker puts its
inner lip lines well inside both lips.  Sealed on those lines, half of the lower lip
vanished into the mouth and what was left bent into a frown.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.motion.types import frame_vector as frame
from avatar.render import WarpRenderer
from avatar.render.mouth import refine_lip_opening
from tests.conftest import shared

CLOSURES = ({"jaw_open": 0.0}, {"jaw_open": 0.0, "lip_spread": -0.5})  # rest; p/b/m


@pytest.fixture(scope="module")
def painted():
    from avatar.face import analyze_portrait

    rig = analyze_portrait(shared("portraits/cc0_pexels_face_paint_woman.png"))
    return WarpRenderer(rig, size=512)


def _teal(img: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(int)
    return (lab[..., 1] < 122) & (lab[..., 2] < 122)


def _bottom(mask: np.ndarray, col: int) -> int:
    return int(np.flatnonzero(mask[:, col - 2 : col + 3].any(1)).max())


@pytest.mark.parametrize("values", CLOSURES)
def test_sealed_lips_keep_their_thickness_and_do_not_frown(painted, values):
    src_lm = painted.mesh.vertices[:478] + np.array(painted.region[:2])
    c = (src_lm[61] + src_lm[291]) / 2
    hw = float(src_lm[291, 0] - src_lm[61, 0]) / 2
    box = np.s_[int(c[1] - hw) : int(c[1] + hw), int(c[0] - 1.2 * hw) : int(c[0] + 1.2 * hw)]
    before = _teal(painted.canvas)[box]
    out = painted.render(frame(**values)).copy()
    after = _teal(out)[box]
    dst, _ = painted.deformer(frame(**values))
    # The corners stay where they were.
    corners = dst[[61, 291]] + np.array(painted.region[:2])
    assert np.abs(corners[:, 1] - src_lm[[61, 291], 1]).max() <= 1.0
    # Lip height beside the centre (the painted stripe is not teal): most of it stays.
    mid = before.shape[1] // 2
    a, b = int(0.15 * hw), int(0.35 * hw)
    cols = np.r_[mid - b : mid - a, mid + a : mid + b]
    ratio = after[:, cols].sum() / before[:, cols].sum()
    assert ratio > 0.6, f"the sealed lips kept {ratio:.0%} of their height"
    # The lower lip's bottom edge keeps its smile-ward curve: no lower at the sides than
    # half-way to the centre (the frown lifted the middle 7-17 px above the sides).
    for side in (-1, 1):
        inner, outer = mid + side * int(0.25 * hw), mid + side * int(0.65 * hw)
        assert _bottom(after, inner) >= _bottom(after, outer) - 2, "the closed mouth frowns"


def test_lip_refinement_leaves_closed_lips_alone(luciano_rig):
    r = WarpRenderer(luciano_rig, size=256)
    xy = r.mesh.vertices[:478]
    x0, y0, x1, y1 = r.region
    assert np.array_equal(refine_lip_opening(r.canvas[y0:y1, x0:x1], xy), xy)
