"""The closed eyelid: lid skin where a closing lid would otherwise drag eye pixels.

The tracker's upper-lid line sits a pixel or two inside the visible eye, so
the warp alone carries a strip of iris and lash down with the closing lid
(a dark, broken seam on the closed eye).  Near closure this module swaps the
texture of the eye and its lash band for lid skin (per column, a smooth blend
from the photo's skin above the lash band to the skin below the eye, with the
photo's fine grain, built once per portrait), resampled through the same
backward map as the frame so it moves exactly with the lid, and draws a thin
soft lash line along the lid margin.  Where closing magnifies a thin lid more
than ~2x (the far eye of a 3/4 view), the grain-free skin is shown instead of
any texture taken through the map, which would smear into vertical streaks.

From the first moment of a blink, the strip the lid has travelled over (between
where its margin was with the eye open and where it is now, in output pixels)
shows lid skin too: the warp alone stretches the photo's lashes and the top of
the iris across it (a grey smear on a half-closed eye, worst on the narrow far
eye of a 3/4 view).  Below the moving margin the eye stays the photo's eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.face import regions as R

COVER_START = 0.55  # blink value where the lid skin starts to replace the eye texture
COVER_FULL = 0.95
LASH_FULL = 0.35  # blink value where the drawn lash line reaches full strength
LASH_ALPHA = 0.7  # opacity of the drawn lash line
STRETCH_START, STRETCH_FULL = 1.8, 3.0  # vertical magnification of the lid: photo -> skin
BAND = 0.6  # share of the way from the lid margin to the crease ring treated as lash band


@dataclass
class _Eye:
    upper: tuple[int, ...]
    lower: tuple[int, ...]
    channel: str
    origin: tuple[int, int]  # texture box origin, canvas pixels
    skin: np.ndarray  # (h, w, 3) float32 lid skin over the eye box
    mask: np.ndarray  # (h, w) float32, 1 on the eye and its lash band
    lid: np.ndarray  # (h, w) float32, 1 on the eye and the whole lid up to the crease
    smooth: np.ndarray  # (h, w, 3) float32 the lid skin without the photo's grain
    lash: np.ndarray  # (3,) lash colour
    travel: np.ndarray | None  # (len(upper), 2) each upper-lid point's move at blink 1


class EyelidCover:
    def __init__(
        self,
        canvas: np.ndarray,
        xy: np.ndarray,
        offset: tuple[int, int],
        iod: float,
        travel: dict[str, np.ndarray] | None = None,
    ):
        """``xy``: mesh vertices in region pixels; ``offset``: the region's canvas origin;
        ``travel``: per blink channel, the (N, 2) displacement of every vertex at blink 1
        (default: none, the swept strip is then not repainted)."""
        self.iod = iod
        self.eyes: list[_Eye] = []
        tris = R.mesh_triangles()
        pts = xy + np.asarray(offset, np.float64)
        for upper, lower, channel in (
            (R.RIGHT_EYE_UPPER, R.RIGHT_EYE_LOWER, "blink_right"),
            (R.LEFT_EYE_UPPER, R.LEFT_EYE_LOWER, "blink_left"),
        ):
            eye = _build_eye(canvas, pts, tris, upper, lower, channel, iod)
            if travel is not None and channel in travel:
                eye.travel = np.asarray(travel[channel], np.float64)[list(upper)]
            self.eyes.append(eye)
        self.width = max(1.0, 0.011 * iod)

    def draw(
        self, patch: np.ndarray, mx: np.ndarray, my: np.ndarray, dst: np.ndarray, blinks: dict
    ) -> None:
        """Blend lid skin into the region ``patch`` (``dst`` in its pixels; ``mx``/``my``
        its backward map into the canvas) where the lids close."""
        h, w = patch.shape[:2]
        for eye in self.eyes:
            blink = float(blinks[eye.channel])
            cover = _smooth((blink - COVER_START) / (COVER_FULL - COVER_START))
            lash_strength = _smooth(blink / LASH_FULL)
            if lash_strength <= 0.0:
                continue
            contour = dst[list(eye.upper) + list(eye.lower[-2:0:-1])]
            pad = 0.12 * self.iod
            x0 = max(0, int(np.floor(contour[:, 0].min() - pad)))
            x1 = min(w, int(np.ceil(contour[:, 0].max() + pad)))
            y0 = max(0, int(np.floor(contour[:, 1].min() - 1.5 * pad)))
            y1 = min(h, int(np.ceil(contour[:, 1].max() + pad)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            ox, oy = eye.origin
            sx = mx[y0:y1, x0:x1] - ox
            sy = my[y0:y1, x0:x1] - oy
            skin = cv2.remap(eye.skin, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            a = cv2.remap(eye.mask, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = np.maximum(a * cover, self._swept(eye, dst, blink, (x0, y0), (y1 - y0, x1 - x0)))
            # Where the closing lid magnifies the photo's thin lid more than ~2x (the far
            # eye of a 3/4 view, hooded lids), any texture taken through the map smears into
            # vertical streaks: the smooth lid skin is shown there instead.
            stretch = 1.0 / np.maximum(np.gradient(sy, axis=0), 1e-3)
            smeared = np.clip((stretch - STRETCH_START) / (STRETCH_FULL - STRETCH_START), 0, 1)
            smeared = cv2.GaussianBlur(smeared, (0, 0), max(1.0, 0.02 * self.iod))
            lid = cv2.remap(eye.lid, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            smeared = smeared * lid * lash_strength
            if float(smeared.max()) > 0.0:
                plain = cv2.remap(
                    eye.smooth, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
                skin = skin + (plain - skin) * smeared[..., None]
                a = np.maximum(a, smeared)
            a = a[..., None]
            roi = patch[y0:y1, x0:x1].astype(np.float32)
            out = roi + (skin - roi) * a
            # The lashes: a thin soft line along the closing upper lid's margin.
            line = np.zeros((y1 - y0, x1 - x0), np.uint8)
            margin = dst[list(eye.upper)] - (x0, y0)
            cv2.polylines(
                line, [np.round(margin * 8).astype(np.int32)], False, 255, 1, cv2.LINE_AA, 3
            )
            line = cv2.GaussianBlur(line, (0, 0), 0.5 * self.width).astype(np.float32)
            la = np.clip(line / max(float(line.max()), 1.0), 0, 1) * LASH_ALPHA * lash_strength
            la = la[..., None]
            out = out + (eye.lash - out) * la
            patch[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _swept(self, eye: _Eye, dst: np.ndarray, blink: float, origin, shape) -> np.ndarray:
        """Alpha of the strip the upper lid has swept over, in the draw box's pixels: 1
        from the moving margin up to where it sat with the eye open, fading out over
        the top quarter so the painted skin merges with the stretched lid above."""
        alpha = np.zeros(shape, np.uint8)
        if eye.travel is None or blink <= 0.0:
            return alpha.astype(np.float32)
        margin = dst[list(eye.upper)] - origin
        step = blink * eye.travel
        if float(np.max(np.abs(step[:, 1]))) < 0.25:
            return alpha.astype(np.float32)
        top = margin - step
        poly = np.concatenate([top, margin[::-1]])
        cv2.fillPoly(alpha, [np.round(poly * 8).astype(np.int32)], 255, cv2.LINE_AA, 3)
        height = float(np.max(step[:, 1]))
        sigma_y = max(0.5, 0.25 * height)
        # Soft only toward the top: blur, then keep the hard edge at the margin.
        soft = cv2.GaussianBlur(alpha.astype(np.float32) / 255, (0, 0), 0.5, sigmaY=sigma_y)
        core = np.zeros(shape, np.uint8)
        lower_half = np.concatenate([margin - 0.5 * step, margin[::-1]])
        cv2.fillPoly(core, [np.round(lower_half * 8).astype(np.int32)], 255, cv2.LINE_AA, 3)
        return np.maximum(soft, core.astype(np.float32) / 255)


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _build_eye(canvas, pts, tris, upper, lower, channel, iod) -> _Eye:
    eye_ids = set(upper) | set(lower)
    # The lash band's top: part of the way from each upper-lid point to its crease ring.
    band_top, crease = [], []
    for i in upper:
        nb = {int(v) for t in tris if i in t for v in t} - eye_ids
        above = [j for j in nb if j < R.N_MESH and pts[j, 1] < pts[i, 1]]
        rise = (pts[i, 1] - float(np.mean(pts[above, 1]))) if above else 0.0
        band_top.append(pts[i] - (0.0, BAND * rise))
        crease.append(pts[i] - (0.0, rise))
    below = pts[list(lower[-2:0:-1])]
    region = np.concatenate([np.array(band_top), below])
    whole_lid = np.concatenate([np.array(crease), below])
    pad = int(np.ceil(0.25 * iod)) + 3
    h, w = canvas.shape[:2]
    x0 = max(0, int(whole_lid[:, 0].min()) - pad)
    y0 = max(0, int(whole_lid[:, 1].min()) - pad)
    x1 = min(w, int(whole_lid[:, 0].max()) + pad + 1)
    y1 = min(h, int(whole_lid[:, 1].max()) + pad + 1)
    box = np.ascontiguousarray(canvas[y0:y1, x0:x1])
    grow = max(1, int(round(0.01 * iod)))
    kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    hole = np.zeros(box.shape[:2], np.uint8)
    cv2.fillPoly(hole, [np.round((region - (x0, y0)) * 8).astype(np.int32)], 255, cv2.LINE_8, 3)
    hole = cv2.dilate(hole, kernel)
    lid_hole = np.zeros(box.shape[:2], np.uint8)
    cv2.fillPoly(
        lid_hole, [np.round((whole_lid - (x0, y0)) * 8).astype(np.int32)], 255, cv2.LINE_8, 3
    )
    lid_hole = cv2.dilate(lid_hole, kernel) | hole
    # Lid skin is filled in over the eye and its lash band; ``lid`` (up to the crease) is
    # where its grain-free version may replace a lid the warp stretches too far.
    smooth = _lid_fill(box, hole, iod)
    skin = smooth.copy()
    blur = max(0.7, 0.008 * iod)
    mask = cv2.GaussianBlur(hole, (0, 0), blur).astype(np.float32) / 255.0
    lid = cv2.GaussianBlur(lid_hole, (0, 0), 3 * blur).astype(np.float32) / 255.0
    skin += _mirrored_grain(box, hole, iod) * mask[..., None]
    band = hole.astype(bool)
    lum = box[band].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    dark = box[band][lum <= np.percentile(lum, 12)] if band.any() else box.reshape(-1, 3)
    lash = dark.reshape(-1, 3).astype(np.float32).mean(0)
    return _Eye(upper, lower, channel, (x0, y0), skin, mask, lid, smooth, lash, None)


def _lid_fill(box: np.ndarray, hole: np.ndarray, iod: float) -> np.ndarray:
    """Lid skin over ``hole``: per column, a blend from the skin just above the lash band
    to the skin just below the eye, with both edges' colours smoothed across the columns.

    A closed lid is one smooth surface between those two skins. Diffusion inpainting
    (Telea) pulled dark lashes, brow and background in from the hole's edge as streaks
    (a smeared far eye on a 3/4 painting).
    """
    img = box.astype(np.float32)
    h, w = hole.shape
    inside = hole > 0
    cols = np.flatnonzero(inside.any(0))
    out = cv2.GaussianBlur(img, (0, 0), max(0.8, 0.01 * iod))
    if len(cols) == 0:
        return out
    top = np.argmax(inside, 0)[cols]
    bottom = h - 1 - np.argmax(inside[::-1], 0)[cols]
    reach = max(2, int(round(0.04 * iod)))  # rows of skin sampled beyond each edge
    lum_w = np.array([0.299, 0.587, 0.114], np.float32)

    def edge_colours(rows_for):
        colours = np.empty((len(cols), 3), np.float32)
        for k, x in enumerate(cols):
            rows = np.clip(rows_for(k), 0, h - 1)
            px = img[rows, x]
            # the brightest half: lashes, shadowed creases and background stay out
            lum = px @ lum_w
            colours[k] = np.median(px[lum >= np.median(lum)], axis=0)
        return colours

    above = edge_colours(lambda k: np.arange(top[k] - reach, top[k]))
    below = edge_colours(lambda k: np.arange(bottom[k] + 1, bottom[k] + 1 + reach))
    sigma = max(1.0, 0.04 * iod)  # along the lid: one smooth surface, no column streaks
    above = _smooth_along(above, sigma)
    below = _smooth_along(below, sigma)
    rows = np.arange(h, dtype=np.float32)[:, None]
    t = np.clip((rows - top[None, :] + 1) / np.maximum(bottom - top + 2, 1)[None, :], 0, 1)
    t = t * t * (3 - 2 * t)
    fill = above[None, :, :] * (1 - t[..., None]) + below[None, :, :] * t[..., None]
    region = out[:, cols]
    region[inside[:, cols]] = fill[inside[:, cols]]
    out[:, cols] = region
    # soften the hole's own edge into the photo around it
    return cv2.GaussianBlur(out, (0, 0), max(0.8, 0.01 * iod)).astype(np.float32)


def _smooth_along(colours: np.ndarray, sigma: float) -> np.ndarray:
    """Median of 5, then a Gaussian, along the columns of an (N, 3) colour row."""
    n = len(colours)
    if n < 3:
        return colours
    k = min(5, n if n % 2 else n - 1)
    med = np.stack(
        [np.median(colours[max(0, i - k // 2) : i + k // 2 + 1], axis=0) for i in range(n)]
    )
    return cv2.GaussianBlur(med[None], (0, 0), sigmaX=sigma, sigmaY=0.1)[0]


def _mirrored_grain(box: np.ndarray, hole: np.ndarray, iod: float) -> np.ndarray:
    """The photo's fine grain (skin pores, a painting's craquelure) for the filled-in lid,
    mirrored up from the skin just below the eye: the smooth fill alone reads as pasted on
    at native size."""
    img = box.astype(np.float32)
    grain = img - cv2.GaussianBlur(img, (0, 0), max(1.0, 0.02 * iod))
    inside = hole > 0
    h, w = hole.shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    has = inside.any(0)
    bottom = np.where(has, h - 1 - np.argmax(inside[::-1], 0), 0).astype(np.float32)
    map_y = np.where(inside, 2 * bottom[None, :] - rows + 1, rows)
    map_y = np.clip(map_y, 0, h - 1).astype(np.float32)
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w)).copy()
    mirrored = cv2.remap(grain, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # Only as strong as the grain around the eye (dark lashes below it would ring).
    ring = cv2.dilate(hole, np.ones((5, 5), np.uint8)) > 0
    ring &= ~inside
    if ring.any():
        limit = 2.5 * float(np.std(grain[ring]))
        mirrored = np.clip(mirrored, -limit, limit)
    return mirrored
