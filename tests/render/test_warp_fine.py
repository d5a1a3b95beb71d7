"""The big-face fine map: upsampled from a capped grid, exact where the warp breaks."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.render.warp import TriangleWarper

SIZE = 1400
STEP = 70


@pytest.fixture(scope="module")
def sliding_block():
    """A grid mesh whose middle block slides left over its neighbours (a cheek turning over
    the hair) on a gently bent background, painted far to near with the block last."""
    n = SIZE // STEP + 1
    ys, xs = np.mgrid[0:n, 0:n]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) * STEP
    src = np.minimum(src, SIZE - 1)
    tris = []
    for j in range(n - 1):
        for i in range(n - 1):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i, (j + 1) * n + i + 1
            tris += [(a, b, d), (a, d, c)]
    tris = np.array(tris)
    dst = src.copy()
    inner = (src > 0) & (src < SIZE - 1)
    bend = 6.0 * np.sin(src[:, ::-1] / 300.0)
    dst[inner.all(1)] += bend[inner.all(1)]
    block = ((src >= 560) & (src <= 840)).all(1)
    dst[block, 0] -= 100.0
    on_top = block[tris].all(1)
    order = np.concatenate([np.flatnonzero(~on_top), np.flatnonzero(on_top)])
    return src, tris, dst, order


def _maps(src, tris, dst, order, **kw):
    w = TriangleWarper(
        src, tris, (SIZE, SIZE), offset=(10.0, 20.0), fine_box=(100, 100, 1300, 1300), **kw
    )
    mx, my = w.maps(dst, order)
    return w, mx.copy(), my.copy()


def test_upsampled_fine_map_matches_the_exact_one(sliding_block):
    src, tris, dst, order = sliding_block
    exact, ex, ey = _maps(src, tris, dst, order, fine_max=10**6)
    fast, fx, fy = _maps(src, tris, dst, order)
    assert exact.fine_exact and not fast.fine_exact
    err = np.maximum(np.abs(fx - ex), np.abs(fy - ey))
    # Bends are interpolated (a fraction of a source pixel), breaks are exact: the block
    # edge jumps 100 px, and an interpolated map would smear it over a grid step.
    assert np.percentile(err, 99.9) < 0.1
    assert err.max() < 0.5
    # Along the block's sliding left edge (x about 460 + bend) the map is exact.
    assert err[620:780, 445:480].max() < 0.01
    # (without the break repair, the plain upsampled map is off by many pixels there)
    _, px, py = _maps(src, tris, dst, order, break_tol=1e9)
    plain = np.maximum(np.abs(px - ex), np.abs(py - ey))
    assert plain[620:780, 445:480].max() > 10
    # The region's edge stays pinned to the photo.
    assert (fx[:, 0] == 10).all() and (fy[0, :] == 20).all()
    assert (fx[:, -1] == 10 + SIZE - 1).all() and (fy[-1, :] == 20 + SIZE - 1).all()


def _isolated(m: np.ndarray, tol: float = 6.0) -> np.ndarray:
    """Map values more than ``tol`` source pixels outside the range of all 8 neighbours: a
    lone pixel sampling the photo somewhere else (an occlusion edge always has company)."""
    import cv2

    ring = np.ones((3, 3), np.uint8)
    ring[1, 1] = 0
    return (m < cv2.erode(m, ring) - tol) | (m > cv2.dilate(m, ring) + tol)


@pytest.mark.parametrize("portrait", ["pd_grace_hopper_us_navy.jpg", "pd_eileen_collins_nasa.png"])
def test_no_lone_pixel_samples_far_away(portrait):
    """Pixels the rasteriser gives a squeezed triangle (a closing lid, a cheek turning
    away) just outside its edge once extrapolated its affine map 10-30 source pixels off:
    single dark specks beside the jaw or on the cheek (34 and 27 lone samples over this
    sweep before; 0 after)."""
    from avatar.face import analyze_portrait
    from avatar.motion.types import Motion
    from avatar.render import WarpRenderer
    from tests.conftest import shared

    r = WarpRenderer(analyze_portrait(shared(f"portraits/{portrait}")), size=512)
    n = 40
    t = np.arange(n)
    motion = Motion.zeros(n, 25.0)
    motion["yaw"] = 15 * np.sin(2 * np.pi * t / n)
    motion["pitch"] = 10 * np.sin(4 * np.pi * t / n)
    motion["jaw_open"] = 0.5 + 0.5 * np.sin(t / 3)
    motion["blink_left"] = motion["blink_right"] = np.clip(np.sin(t / 2), 0, 1)
    lone = 0
    for frame in motion.values:
        dst, depth = r.deformer(frame)
        mx, my = r.warper.maps(dst, r.paint_order(depth))
        lone += int((_isolated(mx) | _isolated(my)).sum())
    assert lone == 0, lone
