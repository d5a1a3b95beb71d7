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
