"""Faces cut by the picture's edge: the renderer animates them on a reflection-padded copy.

The rigs here are built straight from cropped pixels and shifted landmarks, bypassing the
face stage's refusal of heavily cut faces, so that every region the renderer builds (eyes,
lids, mouth, rings) meets a part of the face outside the picture.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.face.rig import FaceRig
from avatar.motion.types import frame_vector as frame
from avatar.render import WarpRenderer
from avatar.render.warp_renderer import edge_padding

FRAMES = [
    frame(),
    frame(jaw_open=0.9),
    frame(blink_left=1.0, blink_right=1.0),
    frame(yaw=18, pitch=8, jaw_open=0.4),
    frame(yaw=-18, pitch=-8, smile=1.0),
]


def _cut(rig: FaceRig, x0: int = 0, x1: int | None = None, y0: int = 0, y1: int | None = None):
    """The rig's photo cut to [y0:y1, x0:x1], its landmarks moved with it."""
    image = np.ascontiguousarray(rig.image[y0:y1, x0:x1])
    lm = rig.landmarks.copy()
    lm[:, 0] -= x0
    lm[:, 1] -= y0
    return FaceRig(image, lm, 0, [], rig.yaw, rig.pitch, rig.roll)


def _cuts(rig: FaceRig) -> dict[str, FaceRig]:
    xy = rig.landmarks[:, :2]
    iod = float(np.linalg.norm(xy[263] - xy[33]))
    return {
        # the eye on the image's left lies wholly outside (its inner corner at the edge)
        "left_eye_outside": _cut(rig, x0=int(xy[133, 0] + 0.05 * iod)),
        "right_eye_outside": _cut(rig, x1=int(xy[362, 0] - 0.05 * iod)),
        "through_the_mouth": _cut(rig, y1=int(xy[13, 1])),
        "through_the_brows": _cut(rig, y0=int(xy[105, 1])),
    }


@pytest.mark.parametrize("size", [256, 512, None])
@pytest.mark.parametrize(
    "cut", ["left_eye_outside", "right_eye_outside", "through_the_mouth", "through_the_brows"]
)
def test_a_face_cut_by_the_edge_renders_every_frame(luciano_rig, cut, size):
    rig = _cuts(luciano_rig)[cut]
    r = WarpRenderer(rig, size=size)
    assert any(r.edge_padding)
    h, w = rig.image.shape[:2]
    expected = (size, size) if size else (w - w % 2, h - h % 2)
    assert r.output_size == expected
    rest = r.render(FRAMES[0]).copy()
    # at rest the picture is the photo: the padding never shows
    assert np.abs(rest.astype(int) - r.canvas.astype(int)).max() <= 2
    face = r.rest_landmarks[:468]
    yy, xx = np.mgrid[: rest.shape[0], : rest.shape[1]]
    # as for a whole face, motion has faded out two face widths from its centre
    far = np.hypot(xx - face[:, 0].mean(), yy - face[:, 1].mean()) > 2.2 * np.ptp(face[:, 0])
    for f in FRAMES[1:]:
        out = r.render(f)
        assert out.shape == (*expected[::-1], 3)
        assert np.isfinite(r.last_landmarks).all()
        assert r.last_folds <= 2, (cut, size, r.last_folds)
        change = np.abs(out.astype(int) - rest.astype(int))
        assert change.max() > 20  # the face moved
        assert not far.any() or change[far].max() <= 8, change[far].max()


def test_the_open_mouth_is_dark_on_a_face_cut_through_one_eye(luciano_rig):
    xy = luciano_rig.landmarks[:, :2]
    rig = _cut(luciano_rig, x0=int(xy[[33, 133], 0].mean()))
    r = WarpRenderer(rig, size=512)
    rest = r.render(frame()).copy()
    out = r.render(frame(jaw_open=1.0))
    mouth = r.last_landmarks[[13, 14]].mean(0)
    x, y = int(mouth[0]), int(mouth[1])
    lum = lambda im: im[y - 2 : y + 3, x - 2 : x + 3].astype(float).mean()  # noqa: E731
    assert lum(out) < lum(rest) - 40, (lum(out), lum(rest))


def test_a_turn_toward_the_cut_side_is_kept_small(luciano_rig):
    """Turning its cut side into view would show the mirrored padding (a second nose)."""
    xy = luciano_rig.landmarks[:, :2]
    cut = _cut(luciano_rig, x0=int(xy[[33, 133], 0].mean()))  # cut on the image's left
    whole = WarpRenderer(luciano_rig, size=None)
    padded = WarpRenderer(cut, size=None)
    lo, hi = padded.deformer.yaw_range
    assert hi < 0.5 * whole.deformer.yaw_range[1]  # toward the cut: little room
    assert lo == pytest.approx(whole.deformer.yaw_range[0])  # away from it: all of it


def test_faces_inside_the_picture_are_not_padded(luciano_rig):
    for size in (256, 512, None):
        assert WarpRenderer(luciano_rig, size=size).edge_padding == (0, 0, 0, 0)
    assert edge_padding((400, 400), luciano_rig.landmarks[:, :2]) == (0, 0, 0, 0)
