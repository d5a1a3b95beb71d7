from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatar.errors import (
    ExtremePoseError,
    FaceIndexError,
    FaceNotFoundError,
    FaceTooSmallError,
    ImageError,
)
from avatar.face import analyze_portrait, detect_faces, load_image
from avatar.face import regions as R
from tests.conftest import shared

FRONTAL = [
    "cc0_codait_luciano.png",
    "pd_eileen_collins_nasa.png",
    "pd_grace_hopper_us_navy.jpg",
    "pd_obama_official_portrait_2012_halfbody.jpg",
    "cc0_pexels_face_paint_woman.png",
]


@pytest.mark.parametrize("name", FRONTAL)
def test_landmarks_sit_on_the_face(name):
    rig = analyze_portrait(shared(f"portraits/{name}"))
    assert rig.landmarks.shape == (478, 3)
    xy = rig.xy
    # Anatomy: eyes above the nose tip above the mouth above the chin; subject's right eye
    # on the image left.
    eye_y = (xy[159, 1] + xy[386, 1]) / 2
    assert eye_y < xy[R.NOSE_TIP, 1] < xy[13, 1] < xy[R.CHIN, 1]
    assert xy[33, 0] < xy[263, 0]
    # Irises inside their eyes.
    for iris, contour in ((468, R.RIGHT_EYE_CONTOUR), (473, R.LEFT_EYE_CONTOUR)):
        lo, hi = xy[contour].min(0), xy[contour].max(0)
        assert np.all(lo <= xy[iris]) and np.all(xy[iris] <= hi)
    assert abs(rig.yaw) < 15 and abs(rig.roll) < 10
    # Depth: the nose tip is nearer the camera than the face outline.
    assert rig.landmarks[R.NOSE_TIP, 2] > rig.landmarks[list(R.FACE_OVAL), 2].mean()


def test_three_quarter_view_is_animatable_and_reports_its_turn():
    rig = analyze_portrait(shared("portraits/pd_pxhere_woman_3quarter.jpg"))
    assert rig.yaw < -12  # turned toward the viewer's left


def test_small_face_in_a_tall_photo_is_found():
    rig = analyze_portrait(shared("portraits/pd_biden_white_house_2010_tall_smallface.jpg"))
    h = rig.image.shape[0]
    assert rig.face_width < 0.25 * h
    assert rig.box[3] < 0.5 * h  # the head is in the upper part of the photo


def test_several_faces_largest_first_and_index_chooses():
    path = shared("portraits/pixabay_laos_two_faces.jpg")
    first = analyze_portrait(path)
    second = analyze_portrait(path, face_index=1)
    assert first.n_faces == 2
    assert first.face_width >= second.face_width * 0.9
    assert abs(first.centre[0] - second.centre[0]) > first.face_width
    assert any("2 faces" in n for n in first.notices)
    with pytest.raises(FaceIndexError, match="has 2 faces"):
        analyze_portrait(path, face_index=2)


def test_group_photo_finds_all_faces():
    boxes = detect_faces(load_image(shared("portraits/pexels_group_meeting_5faces.jpeg")))
    assert len(boxes) == 5
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas == sorted(areas, reverse=True)


def test_face_looking_down_is_an_extreme_pose_with_a_way_out():
    path = shared("portraits/pexels_group_meeting_5faces.jpeg")
    with pytest.raises(ExtremePoseError, match="--face-index"):
        analyze_portrait(path, face_index=0)


def test_no_face(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((300, 300, 3)) * 40 + 100).astype(np.uint8)
    p = tmp_path / "wall.png"
    Image.fromarray(img).save(p)
    with pytest.raises(FaceNotFoundError, match="No face"):
        analyze_portrait(p)


def test_tiny_face_names_the_minimum(tmp_path):
    img = Image.open(shared("portraits/cc0_codait_luciano.png")).convert("RGB")
    small = img.resize((60, 60))
    canvas = Image.new("RGB", (400, 400), (90, 110, 90))
    canvas.paste(small, (170, 170))
    p = tmp_path / "tiny.png"
    canvas.save(p)
    with pytest.raises((FaceTooSmallError, FaceNotFoundError)) as info:
        analyze_portrait(p)
    if isinstance(info.value, FaceTooSmallError):
        assert "at least 48 pixels" in str(info.value)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture")
    with pytest.raises(ImageError, match="not an image"):
        load_image(p)


def test_truncated_jpeg(tmp_path):
    data = shared("portraits/pd_grace_hopper_us_navy.jpg").read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(p)
