"""The 68-point scheme reads the same facial points as the FaceMesh one.

FAN's 68 points are the iBUG 300-W layout; FaceMesh has a point at each of them. Fed
FaceMesh's own points in the 68-point layout, the FAN scheme must give the same mouth
and eye measures, and a head pose on the same axes, as the FaceMesh scheme does.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.eval import tracker as T
from tests.conftest import shared

# FaceMesh index of each of the 68 iBUG points (jaw 0-16, brows 17-26, nose 27-35,
# eyes 36-47, outer lips 48-59, inner lips 60-67).
MESH_OF_68 = [
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
]  # fmt: skip


class MeshAs68(T._MeshLandmarks):
    scheme = T.FAN68

    def __call__(self, small, wh, near):
        p = super().__call__(small, wh, near)
        return None if p is None else p[MESH_OF_68]


def test_mapping_agrees_with_the_fan_schemes_pose_points():
    for k, mesh in T._FAN_FROM_MESH.items():
        assert MESH_OF_68[k] == mesh


def test_fan_scheme_measures_like_the_mesh_scheme(monkeypatch):
    video = shared("videos/grid_lrwp9a_female.mpg")
    mesh = T.track_video(video, max_frames=40)
    monkeypatch.setattr(T, "_landmarker", lambda tracker, near: MeshAs68(near))
    as68 = T.track_video(video, max_frames=40)
    assert as68.tracker == "fan" and as68.found.all() and mesh.found.all()
    np.testing.assert_allclose(as68.mouth_open, mesh.mouth_open, rtol=1e-9)
    np.testing.assert_allclose(as68.ear_left, mesh.ear_left, rtol=1e-9)
    np.testing.assert_allclose(as68.ear_right, mesh.ear_right, rtol=1e-9)
    # Nine rigid points instead of forty, same template: the same head motion (what the
    # metrics use: spreads and speeds) within a degree, under a constant offset of a few
    # degrees (pitch 2.3 here: the midline points alone place the forehead's tilt less well).
    for a in ("yaw", "pitch", "roll"):
        diff = getattr(as68, a) - getattr(mesh, a)
        assert abs(diff.mean()) < 3.0, a
        assert np.abs(diff - diff.mean()).max() < 1.5, a


def test_unknown_tracker_is_one_sentence():
    with pytest.raises(T.EvalError, match="Unknown tracker 'dlib'"):
        T.track_video(shared("videos/grid_lrwp9a_female.mpg"), tracker="dlib")
