"""Piecewise-affine backward warp of an image region, one remap per frame.

Destination triangles are rasterised far-to-near into a triangle-id map; each
pixel of the map gets its source position from its triangle's affine map and
``cv2.remap`` resamples the *source photo* once (never the previous frame), so
nothing drifts or accumulates blur over time.

Two levels keep it cheap: the whole region on a coarse grid (the warp there
is smooth: hair, neck, background falloff), upsampled; and the face core
(eyes, brows, mouth), where lids meet and lips part, exactly at full
resolution, so no interpolated map ever samples the eye behind a closed lid.
"""

from __future__ import annotations

import cv2
import numpy as np

SUBPIXEL_BITS = 4


class TriangleWarper:
    def __init__(
        self,
        src_vertices: np.ndarray,
        triangles: np.ndarray,
        region_size: tuple[int, int],
        *,
        offset: tuple[float, float] = (0.0, 0.0),
        fine_box: tuple[int, int, int, int] | None = None,
        grid_max: int = 256,
    ):
        """``src_vertices``, destinations and ``fine_box`` are in region pixels; maps come
        out in image pixels (region + ``offset``), ready for ``cv2.remap`` on the photo."""
        self.tris = np.asarray(triangles, np.int64)
        w, h = region_size
        self.size = (w, h)
        self.offset = np.asarray(offset, np.float64)
        self.grid_scale = min(1.0, grid_max / max(w, h))
        gw = max(2, int(round(w * self.grid_scale)))
        gh = max(2, int(round(h * self.grid_scale)))
        self.coarse = _Grid(
            (np.arange(gw) + 0.5) / gw * w - 0.5, (np.arange(gh) + 0.5) / gh * h - 0.5
        )
        self.fine = None
        if fine_box is not None and self.grid_scale < 1.0:
            x0, y0, x1, y1 = (int(v) for v in fine_box)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 - x0 > 2 and y1 - y0 > 2:
                self.fine = _Grid(
                    np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
                )
                self.fine_box = (x0, y0, x1, y1)
        src = np.asarray(src_vertices, np.float64) + self.offset
        self._q0 = src[self.tris[:, 0]]
        self._q1 = src[self.tris[:, 1]] - self._q0
        self._q2 = src[self.tris[:, 2]] - self._q0

    def _affine(self, tri_dst: np.ndarray):
        """Per-triangle coefficients of dst -> src, plus an identity entry at index K."""
        p0 = tri_dst[:, 0]
        d1 = tri_dst[:, 1] - p0
        d2 = tri_dst[:, 2] - p0
        det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
        ok = np.abs(det) > 1e-6
        inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        # M = Q D^-1 with D = [d1 d2] as columns; the map is q0 + M (p - p0).
        i00, i01 = d2[:, 1] * inv_det, -d2[:, 0] * inv_det
        i10, i11 = -d1[:, 1] * inv_det, d1[:, 0] * inv_det
        m00 = self._q1[:, 0] * i00 + self._q2[:, 0] * i10
        m01 = self._q1[:, 0] * i01 + self._q2[:, 0] * i11
        m10 = self._q1[:, 1] * i00 + self._q2[:, 1] * i10
        m11 = self._q1[:, 1] * i01 + self._q2[:, 1] * i11
        t0 = self._q0[:, 0] - m00 * p0[:, 0] - m01 * p0[:, 1]
        t1 = self._q0[:, 1] - m10 * p0[:, 0] - m11 * p0[:, 1]
        ox, oy = self.offset
        coef = [
            np.append(c, extra).astype(np.float32)
            for c, extra in ((m00, 1.0), (m01, 0.0), (t0, ox), (m10, 0.0), (m11, 1.0), (t1, oy))
        ]
        return coef, ok

    def maps(self, dst_vertices: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps (region-sized float32 source x and y, in image pixels)."""
        tri_dst = np.asarray(dst_vertices, np.float64)[self.tris]  # (K, 3, 2)
        coef, ok = self._affine(tri_dst)
        order = order[ok[order]]
        lo = tri_dst.min(1)
        hi = tri_dst.max(1)
        coarse_order = order
        if self.fine is not None:
            # Triangles wholly inside the exact box need no coarse pass: it is overwritten.
            x0, y0, x1, y1 = self.fine_box
            m = 2.0 / self.grid_scale  # keep a margin for the upsampling filter
            inside = (
                (lo[:, 0] > x0 + m)
                & (hi[:, 0] < x1 - m)
                & (lo[:, 1] > y0 + m)
                & (hi[:, 1] < y1 - m)
            )
            coarse_order = order[~inside[order]]
        mx, my = self.coarse.evaluate(tri_dst, coarse_order, coef, self.grid_scale, (0.0, 0.0))
        w, h = self.size
        if mx.shape != (h, w):
            mx = cv2.resize(mx, (w, h), interpolation=cv2.INTER_LINEAR)
            my = cv2.resize(my, (w, h), interpolation=cv2.INTER_LINEAR)
            # The region's edge is pinned to the photo; resampling must not shift it.
            ox, oy = self.offset
            mx[:, 0], mx[:, -1] = ox, ox + w - 1
            my[0, :], my[-1, :] = oy, oy + h - 1
            mx[0, :] = mx[-1, :] = np.arange(w, dtype=np.float32) + np.float32(ox)
            my[:, 0] = my[:, -1] = np.arange(h, dtype=np.float32) + np.float32(oy)
        if self.fine is not None:
            x0, y0, x1, y1 = self.fine_box
            touches = (hi[:, 0] >= x0) & (lo[:, 0] < x1) & (hi[:, 1] >= y0) & (lo[:, 1] < y1)
            fx, fy = self.fine.evaluate(tri_dst, order[touches[order]], coef, 1.0, (x0, y0))
            mx[y0:y1, x0:x1] = fx
            my[y0:y1, x0:x1] = fy
        return mx, my


class _Grid:
    """Pixel centres (in region pixels) at which the map is evaluated exactly."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray):
        gx, gy = np.meshgrid(xs, ys)
        self.gx = gx.astype(np.float32)
        self.gy = gy.astype(np.float32)
        self.ids = np.empty(gx.shape, np.int32)

    def evaluate(self, tri_dst, order, coef, scale: float, origin) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids
        ids.fill(len(coef[0]) - 1)  # the identity entry: pixels no triangle covers stay put
        one = 1 << SUBPIXEL_BITS
        shifted = tri_dst - np.asarray(origin, np.float64)
        pts = np.round((shifted + 0.5) * scale * one - 0.5 * one).astype(np.int32)
        fill = cv2.fillConvexPoly
        line, bits = cv2.LINE_8, SUBPIXEL_BITS
        for poly, k in zip(list(pts[order]), order.tolist(), strict=True):
            fill(ids, poly, k, line, bits)
        # a x + b y + c per pixel, in place (half the memory traffic of the plain expression;
        # same operation order, so the same float32 result).
        out = []
        for a, b, c in ((coef[0], coef[1], coef[2]), (coef[3], coef[4], coef[5])):
            m = np.take(a, ids)
            m *= self.gx
            t = np.take(b, ids)
            t *= self.gy
            m += t
            m += np.take(c, ids)
            out.append(m)
        return out[0], out[1]
