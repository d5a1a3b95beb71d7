"""Piecewise-affine backward warp of an image region, one remap per frame.

Destination triangles are rasterised far-to-near into a triangle-id map; each
pixel of the map gets its source position from its triangle's affine map and
``cv2.remap`` resamples the *source photo* once (never the previous frame), so
nothing drifts or accumulates blur over time.

Levels keep it cheap: the whole region on a coarse grid (the warp there is
smooth: hair, neck, background falloff), upsampled; and the face core (eyes,
brows, mouth, cheeks to the jaw line), where lids meet, lips part and a turning
cheek occludes what is behind it, at full resolution, so no interpolated map
ever samples the eye behind a closed lid.  A big face's core (a large photo at
native size: 1.6 million pixels for a face filling a 1200x1800 photo) is
evaluated on a grid of at most ``fine_max`` points across and upsampled; only
where that map breaks or bends hard (measured per frame) are pixels evaluated
exactly, so the cost follows the face's outline rather than its area.

A pixel only ever samples the photo inside its own triangle's source: the
rasteriser also claims pixels whose centres lie just outside a triangle, and a
squeezed triangle's affine map (a closing lid, the skin a turning cheek folds
away) extrapolates them many pixels off (single dark specks beside the jaw or
on the cheek); those are pulled back onto the source triangle.
"""

from __future__ import annotations

import cv2
import numpy as np

SUBPIXEL_BITS = 4
FINE_MAX = 640  # grid points across the face core, at most, before it is upsampled
BREAK_TOL = 0.5  # half the grid second difference (source px) still left to interpolation
SQUEEZED = 0.6  # triangles drawn under this share of their source area (or flipped)


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
        fine_max: int = FINE_MAX,
        break_tol: float = BREAK_TOL,
    ):
        """``src_vertices``, destinations and ``fine_box`` are in region pixels; maps come
        out in image pixels (region + ``offset``), ready for ``cv2.remap`` on the photo.

        A fine box more than ``fine_max`` pixels across is evaluated on a grid that size
        and upsampled, exact only where the map breaks (see ``_fix_breaks``)."""
        self.tris = np.asarray(triangles, np.int64)
        w, h = region_size
        self.size = (w, h)
        self.offset = np.asarray(offset, np.float64)
        self.grid_scale = min(1.0, grid_max / max(w, h))
        gw = max(2, int(round(w * self.grid_scale)))
        gh = max(2, int(round(h * self.grid_scale)))
        self.coarse = _Grid(
            (np.arange(gw) + 0.5) / gw * w - 0.5,
            (np.arange(gh) + 0.5) / gh * h - 0.5,
            scale=(self.grid_scale, self.grid_scale),
        )
        self.fine = None
        self.fine_box = None
        self.fine_exact = True
        self.break_tol = break_tol
        if fine_box is not None and self.grid_scale < 1.0:
            x0, y0, x1, y1 = (int(v) for v in fine_box)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 - x0 > 2 and y1 - y0 > 2:
                self.fine_box = (x0, y0, x1, y1)
                step = max(x1 - x0, y1 - y0) / fine_max
                if step > 1.0:
                    self._setup_upsampled(step)
                else:
                    self.fine = _Grid(
                        np.arange(x0, x1, dtype=np.float64),
                        np.arange(y0, y1, dtype=np.float64),
                        scale=(1.0, 1.0),
                        origin=(x0, y0),
                    )
        self._xs = np.arange(w, dtype=np.float32)
        self._ys = np.arange(h, dtype=np.float32)[:, None]
        self._mx = np.empty((h, w), np.float32)
        self._my = np.empty((h, w), np.float32)
        src = np.asarray(src_vertices, np.float64) + self.offset
        self._q0 = src[self.tris[:, 0]]
        self._q1 = src[self.tris[:, 1]] - self._q0
        self._q2 = src[self.tris[:, 2]] - self._q0
        det = self._q1[:, 0] * self._q2[:, 1] - self._q2[:, 0] * self._q1[:, 1]
        self._src_ok = np.abs(det) > 1e-6
        self._src_area = det
        self._squeezed = np.zeros(len(self.tris) + 1, bool)

    def _setup_upsampled(self, step: float) -> None:
        """The grid of a fine box too big to evaluate exactly: it reaches a little past the
        box (so upsampling never clamps inside it), and where it meets the region's pinned
        edge a strip of ``rim`` pixels is evaluated exactly."""
        self.fine_exact = False
        w, h = self.size
        x0, y0, x1, y1 = self.fine_box
        e = int(np.ceil(step)) + 1
        x0, y0, x1, y1 = max(0, x0 - e), max(0, y0 - e), min(w, x1 + e), min(h, y1 + e)
        self.grid_box = (x0, y0, x1, y1)
        bw, bh = x1 - x0, y1 - y0
        nx, ny = max(3, int(round(bw / step))), max(3, int(round(bh / step)))
        # A grid that tiles the box exactly, so cv2.resize lands on its points.
        self.fine = _Grid(
            x0 + (np.arange(nx) + 0.5) * bw / nx - 0.5,
            y0 + (np.arange(ny) + 0.5) * bh / ny - 0.5,
            scale=(nx / bw, ny / bh),
            origin=(x0, y0),
        )
        self.rims = [
            box
            for box, touches in (
                ((x0, y0, x0 + e, y1), x0 == 0),
                ((x1 - e, y0, x1, y1), x1 == w),
                ((x0, y0, x1, y0 + e), y0 == 0),
                ((x0, y1 - e, x1, y1), y1 == h),
            )
            if touches
        ]
        fx0, fy0, fx1, fy1 = self.fine_box
        self._ring = [
            np.s_[y0:y1, x0:fx0],
            np.s_[y0:y1, fx1:x1],
            np.s_[y0:fy0, fx0:fx1],
            np.s_[fy1:y1, fx0:fx1],
        ]
        self._flag_full = np.empty((bh, bw), np.uint8)
        self._ids_full = np.empty((bh, bw), np.int32)
        self._flag = np.empty((ny, nx), np.uint8)
        self._dd = np.empty((ny, nx), np.float32)
        self._ddx = np.array([[1, -2, 1]], np.float32)
        self._ddy = self._ddx.T.copy()

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
        """Backward maps (region-sized float32 source x and y, in image pixels).

        The arrays are reused by the next call."""
        tri_dst = np.asarray(dst_vertices, np.float64)[self.tris]  # (K, 3, 2)
        coef, ok = self._affine(tri_dst)
        order = order[ok[order]]
        d1, d2 = tri_dst[:, 1] - tri_dst[:, 0], tri_dst[:, 2] - tri_dst[:, 0]
        dst_area = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
        ratio = dst_area / np.where(self._src_ok, self._src_area, 1.0)
        self._squeezed[:-1] = self._src_ok & (ratio < SQUEEZED)
        self._frame = (tri_dst, coef)
        lo = tri_dst.min(1)
        hi = tri_dst.max(1)
        coarse_order = order
        if self.fine is not None:
            # Triangles wholly inside the fine box need no coarse pass: it is overwritten.
            x0, y0, x1, y1 = self.fine_box
            m = 2.0 / self.grid_scale  # keep a margin for the upsampling filter
            inside = (
                (lo[:, 0] > x0 + m)
                & (hi[:, 0] < x1 - m)
                & (lo[:, 1] > y0 + m)
                & (hi[:, 1] < y1 - m)
            )
            coarse_order = order[~inside[order]]
        mx, my = self._mx, self._my
        cx, cy = self.coarse.evaluate(tri_dst, coarse_order, coef)
        self._keep_inside(cx, cy, self.coarse)
        w, h = self.size
        if cx.shape != (h, w):
            cv2.resize(cx, (w, h), dst=mx, interpolation=cv2.INTER_LINEAR)
            cv2.resize(cy, (w, h), dst=my, interpolation=cv2.INTER_LINEAR)
            self._pin_edges()
        else:
            mx[...], my[...] = cx, cy
        if self.fine is None:
            return mx, my
        x0, y0, x1, y1 = self.fine_box if self.fine_exact else self.grid_box
        touches = (hi[:, 0] >= x0) & (lo[:, 0] < x1) & (hi[:, 1] >= y0) & (lo[:, 1] < y1)
        order = order[touches[order]]
        fx, fy = self.fine.evaluate(tri_dst, order, coef)
        self._keep_inside(fx, fy, self.fine)
        if self.fine_exact:
            mx[y0:y1, x0:x1], my[y0:y1, x0:x1] = fx, fy
            return mx, my
        # The grid reaches past the fine box; around it the coarse map stays.
        ring = [(b, mx[b].copy(), my[b].copy()) for b in self._ring]
        cv2.resize(fx, (x1 - x0, y1 - y0), dst=mx[y0:y1, x0:x1], interpolation=cv2.INTER_LINEAR)
        cv2.resize(fy, (x1 - x0, y1 - y0), dst=my[y0:y1, x0:x1], interpolation=cv2.INTER_LINEAR)
        self._fix_breaks(tri_dst, order, coef, fx, fy)
        for b, keep_x, keep_y in ring:
            mx[b], my[b] = keep_x, keep_y
        for box in self.rims:
            self._exact_box(tri_dst, order, coef, box)
        return mx, my

    def _pin_edges(self) -> None:
        """The region's edge is pinned to the photo; resampling must not shift it."""
        mx, my = self._mx, self._my
        w, h = self.size
        ox, oy = self.offset
        mx[:, 0], mx[:, -1] = ox, ox + w - 1
        my[0, :], my[-1, :] = oy, oy + h - 1
        mx[0, :] = mx[-1, :] = self._xs + np.float32(ox)
        my[:, 0] = my[:, -1] = self._ys[:, 0] + np.float32(oy)

    def _fix_breaks(self, tri_dst, order, coef, fx, fy) -> None:
        """Exact values wherever the upsampled fine map is not to be trusted.

        Inside one triangle the map is affine, so its second difference along x or y on
        the grid is 0; across a bend it is the bend, across a break (a lid over the eye,
        the lips parting, a cheek turning over the hair) the jump.  Where it exceeds twice
        ``break_tol`` source pixels, and along triangles too thin for the grid to see,
        the grid points are flagged; every full-resolution pixel interpolated from a
        flagged point gets its own triangle's exact value (rasterised at full resolution
        from the triangles near flagged points only)."""
        flag = self._flag
        sx, sy = self.fine.scale
        flag.fill(0)
        for v in (fx, fy):
            for kernel in (self._ddx, self._ddy):
                cv2.filter2D(v, cv2.CV_32F, kernel, dst=self._dd, borderType=cv2.BORDER_REPLICATE)
                flag |= (np.abs(self._dd) > 2 * self.break_tol).view(np.uint8)
        flag *= 255  # (so the upsampled flag is non-zero wherever a flagged point weighs in)
        x0, y0, x1, y1 = self.grid_box
        # Slivers: thinner than two grid steps (twice the area over the longest edge).
        d1, d2 = tri_dst[:, 1] - tri_dst[:, 0], tri_dst[:, 2] - tri_dst[:, 0]
        area = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
        edge = np.sqrt(((tri_dst - np.roll(tri_dst, 1, axis=1)) ** 2).sum(2).max(1))
        thin = order[area[order] < 2.0 / min(sx, sy) * edge[order]]
        if len(thin):
            pts = np.round(((tri_dst[thin] - (x0, y0) + 0.5) * (sx, sy) - 0.5) * 16)
            cv2.polylines(flag, list(pts.astype(np.int32)), True, 255, 1, cv2.LINE_8, 4)
        full = self._flag_full  # > 0 where any of a pixel's interpolation points is flagged
        cv2.resize(flag, (x1 - x0, y1 - y0), dst=full, interpolation=cv2.INTER_LINEAR)
        nz = cv2.findNonZero(full)
        if nz is None:
            return
        xs, ys = nz[:, 0, 0], nz[:, 0, 1]
        # Triangles whose box (in grid points, one point of margin) holds a flag.
        gh, gw = flag.shape
        lo = np.floor((tri_dst.min(1) - (x0, y0) + 0.5) * (sx, sy) - 0.5).astype(int) - 1
        hi = np.ceil((tri_dst.max(1) - (x0, y0) + 0.5) * (sx, sy) - 0.5).astype(int) + 2
        lo = np.clip(lo, 0, (gw, gh))
        hi = np.clip(hi, 0, (gw, gh))
        sat = cv2.integral(flag)
        hits = sat[hi[:, 1], hi[:, 0]] - sat[lo[:, 1], hi[:, 0]] - sat[hi[:, 1], lo[:, 0]]
        hits += sat[lo[:, 1], lo[:, 0]]
        ids = self._ids_full
        _rasterise(ids, tri_dst - (x0, y0), order[hits[order] > 0], len(coef[0]) - 1, (1, 1))
        self._write_exact(coef, ids[ys, xs], x0 + xs, y0 + ys)

    def _exact_box(self, tri_dst, order, coef, box) -> None:
        """Exact values over a small ``box`` (region pixels)."""
        x0, y0, x1, y1 = box
        lo, hi = tri_dst.min(1), tri_dst.max(1)
        hit = (hi[:, 0] >= x0) & (lo[:, 0] < x1) & (hi[:, 1] >= y0) & (lo[:, 1] < y1)
        ids = np.empty((y1 - y0, x1 - x0), np.int32)
        _rasterise(ids, tri_dst - (x0, y0), order[hit[order]], len(coef[0]) - 1, (1, 1))
        ys, xs = np.mgrid[y0:y1, x0:x1]
        self._write_exact(coef, ids.ravel(), xs.ravel(), ys.ravel())

    def _write_exact(self, coef, k, xs, ys) -> None:
        """Each listed pixel's map from its triangle ``k`` (in ``_Grid.evaluate``'s order
        of operations: the same float32 values)."""
        px, py = self._xs[xs], self._ys[ys, 0]
        values = []
        for a, b, c in ((0, 1, 2), (3, 4, 5)):
            m = coef[a][k] * px
            m += coef[b][k] * py
            m += coef[c][k]
            values.append(m)
        vx, vy = values
        sel = self._squeezed[k]
        if sel.any():
            vx[sel], vy[sel] = self._pulled_inside(px[sel], py[sel], k[sel])
        self._mx[ys, xs], self._my[ys, xs] = vx, vy

    def _keep_inside(self, mx: np.ndarray, my: np.ndarray, grid: _Grid) -> None:
        """Re-sample the pixels of squeezed triangles from inside their triangle."""
        sel = np.take(self._squeezed, grid.ids)
        if sel.any():
            mx[sel], my[sel] = self._pulled_inside(grid.gx[sel], grid.gy[sel], grid.ids[sel])

    def _pulled_inside(self, px: np.ndarray, py: np.ndarray, k: np.ndarray):
        """The maps of pixel centres ``(px, py)`` (region pixels) claimed by triangles ``k``,
        each taken at the nearest point of its triangle: a pixel just outside a squeezed
        triangle gets the value of the shared edge, which its neighbour has too."""
        tri_dst, coef = self._frame
        tri = tri_dst[k]  # (n, 3, 2)
        p = np.column_stack([px, py]).astype(np.float64)
        best = p.copy()
        best_d = np.full(len(p), np.inf)
        inside = np.ones(len(p), bool)
        orient = np.sign(
            (tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
            - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1])
        )
        for i, j in ((0, 1), (1, 2), (2, 0)):
            a, e = tri[:, i], tri[:, j] - tri[:, i]
            rel = p - a
            inside &= orient * (e[:, 0] * rel[:, 1] - e[:, 1] * rel[:, 0]) >= 0
            t = np.clip((rel * e).sum(1) / np.maximum((e * e).sum(1), 1e-12), 0.0, 1.0)
            c = a + t[:, None] * e
            d = ((p - c) ** 2).sum(1)
            closer = d < best_d
            best[closer], best_d[closer] = c[closer], d[closer]
        best[inside] = p[inside]
        out = []
        for a, b, c in ((0, 1, 2), (3, 4, 5)):
            out.append(coef[a][k] * best[:, 0] + coef[b][k] * best[:, 1] + coef[c][k])
        return out[0].astype(np.float32), out[1].astype(np.float32)


def _rasterise(ids: np.ndarray, tri: np.ndarray, order, identity: int, scale) -> None:
    """Triangle index per grid pixel, painted far to near (``tri`` in grid-origin pixels)."""
    ids.fill(identity)  # pixels no triangle covers stay put
    one = 1 << SUBPIXEL_BITS
    pts = np.round((tri + 0.5) * np.asarray(scale) * one - 0.5 * one).astype(np.int32)
    fill = cv2.fillConvexPoly
    line, bits = cv2.LINE_8, SUBPIXEL_BITS
    for poly, k in zip(list(pts[order]), order.tolist(), strict=True):
        fill(ids, poly, k, line, bits)


class _Grid:
    """Pixel centres (in region pixels) at which the map is evaluated exactly.

    ``scale`` (grid points per region pixel along x and y) and ``origin`` (the region
    pixel of the grid's top-left edge) place triangles on the grid for rasterising."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray, scale, origin=(0.0, 0.0)):
        gx, gy = np.meshgrid(xs, ys)
        self.gx = gx.astype(np.float32)
        self.gy = gy.astype(np.float32)
        self.ids = np.empty(gx.shape, np.int32)
        self.scale = scale
        self.origin = np.asarray(origin, np.float64)

    def evaluate(self, tri_dst, order, coef) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids
        _rasterise(ids, tri_dst - self.origin, order, len(coef[0]) - 1, self.scale)
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
