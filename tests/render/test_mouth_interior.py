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
