"""Several faces in one video: the evaluation follows (and identifies) the one asked for."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared


@pytest.mark.parametrize("which", [0, 1])
def test_face_near_picks_and_identifies_that_face(tmp_path, which):
    import cv2
    import imageio_ffmpeg

    from avatar.eval import evaluate_video
    from avatar.eval.identity import unavailable_reason
    from avatar.face.detect import detect_faces

    photo = shared("portraits/pixabay_laos_two_faces.jpg")
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    boxes = sorted(detect_faces(rgb), key=lambda b: b[0])[:2]  # left face, right face
    assert len(boxes) == 2
    x0, y0, x1, y1 = boxes[which]
    near = ((x0 + x1) / 2, (y0 + y1) / 2)
    h, w = rgb.shape[:2]
    video = tmp_path / "still.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (w, h), fps=25, codec="libx264")
    writer.send(None)
    for _ in range(8):
        writer.send(np.ascontiguousarray(rgb))
    writer.close()

    r = evaluate_video(video, source_image=photo, lse=False, face_near=near, max_side=960)
    centre = np.nanmedian(r.track.center, axis=0)
    assert r.face_found_fraction == 1.0
    assert np.hypot(*(centre - near)) < 0.3 * (x1 - x0), (centre, near)
    if unavailable_reason() is None:  # the same face of the same photo: a tiny distance
        assert r.identity_distance < 0.15, r.identity_distance
