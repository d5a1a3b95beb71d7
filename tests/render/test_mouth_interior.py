"""The synthesised mouth interior on a smiling photo that already shows its teeth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.motion.types import CHANNEL_INDEX, CHANNELS
from avatar.render import WarpRenderer
from tests.conftest import REPO

LUM = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def smiling():
    from avatar.face import analyze_portrait

    return WarpRenderer(analyze_portrait(REPO / "examples" / "portrait.png"), size=512)


def test_wide_vowel_on_a_photo_with_teeth_shows_a_tongue_not_a_black_crescent(smiling):
    assert not smiling.mouth.synthetic_teeth  # the photo's own teeth ride with the upper lip
    v = np.zeros(len(CHANNELS), np.float32)
    v[CHANNEL_INDEX["jaw_open"]] = 1.0
    out = smiling.render(v).copy()
    dst, _ = smiling.deformer(v)
    inner = dst[smiling.mesh.mouth_opening] + np.array(smiling.region[:2])
    mask = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
    px = out[cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float64)
    assert len(px) > 200
    lum = px @ LUM
    red = (px[:, 0] > px[:, 1] + 30) & (px[:, 0] > 90)  # tongue and inner lips
    assert (lum < 40).mean() < 0.45, "the opening is mostly a flat black crescent"
    assert red.mean() > 0.15, "no tongue in the wide-open mouth"
    assert (lum < 60).mean() > 0.1, "no dark cavity left behind the tongue"


@pytest.mark.parametrize(("jaw", "level", "share"), [(0.8, 0.65, 0.4), (1.0, 0.72, 0.5)])
def test_wide_vowel_on_a_photo_with_teeth_shows_lower_teeth(smiling, jaw, level, share):
    """Lower teeth above the lower lip once the lips are wide apart, not only at the very
    widest: judged on the whole lip separation, the photo's own teeth count toward it."""
    v = np.zeros(len(CHANNELS), np.float32)
    v[CHANNEL_INDEX["jaw_open"]] = jaw
    out = smiling.render(v).astype(np.float64) @ LUM
    dst, _ = smiling.deformer(v)
    lower = dst[list(smiling.mesh.mid_lower)] + np.array(smiling.region[:2])
    lower = lower[np.argsort(lower[:, 0])]
    # The lower lip's inner line across the middle third of the mouth; the teeth stand
    # within a few pixels above it, the lip itself just below.
    x0, x1 = lower[0, 0], lower[-1, 0]
    xs = np.arange(int(x0 + 0.33 * (x1 - x0)), int(x0 + 0.67 * (x1 - x0)))
    bot = np.interp(xs, lower[:, 0], lower[:, 1]).astype(int)
    teeth = np.array([out[b - 7 : b - 1, x].max() for x, b in zip(xs, bot)])
    lip = np.array([np.median(out[b + 3 : b + 8, x]) for x, b in zip(xs, bot)])
    # (columns with teeth, measured at jaw 0.8 / 1.0: 0.0 / 0.0 before, 0.61 / 0.72 after)
    assert (teeth > level * lip).mean() > share, "no lower teeth over the lower lip"


def test_painted_lips_do_not_tint_the_inside_of_the_mouth():
    """Teal lipstick (the face-paint portrait) made a grey-blue tongue and cavity."""
    from avatar.face import analyze_portrait
    from avatar.render.mouth import natural_lip_colour
    from tests.conftest import shared

    natural = np.array([164.0, 111.0, 98.0])  # Obama's lips
    assert np.allclose(natural_lip_colour(natural, np.array([186.0, 128.0, 103.0])), natural)
    renderer = WarpRenderer(
        analyze_portrait(shared("portraits/cc0_pexels_face_paint_woman.png")), size=512
    )
    tongue = renderer.mouth.tongue
    assert tongue[0] > tongue[1] + 15 and tongue[0] > tongue[2] + 15, tongue  # flesh red


def test_lower_teeth_take_the_photos_own_teeth_colour_and_leave_the_corners(smiling):
    own = smiling.mouth.lower_teeth
    assert own @ LUM > 200 and own[0] - own[2] < 45, own  # Collins' near-white teeth
    layer = smiling.mouth.layer(
        np.array([[0.0, 10.0], [50.0, 5.0], [100.0, 10.0]]),
        np.array([[0.0, 10.0], [50.0, 45.0], [100.0, 10.0]]),
        40.0,
        (101, 50),
        openness=1.0,
    )
    lum = layer @ LUM
    centre = lum[30:44, 45:56].max()
    corner = lum[10:40, 8:16].max()  # beside the corner the arch has ended: cavity only
    assert centre > 150 and corner < 0.6 * centre, (centre, corner)
