"""Motion channels -> mesh vertex positions.

Local expression (mouth, lids, brows, gaze) is a sum of precomputed linear
displacement fields, one per channel, so a frame costs one small matrix
product.  Head motion is then a rigid 2.5-D rotation about a pivot behind the
face, using the landmark depth, faded out through hair, neck and background by
each vertex's rigid weight.
"""

from __future__ import annotations

import math

import numpy as np

from avatar.face import regions as R
from avatar.motion.types import CHANNEL_INDEX
from avatar.render.mesh import FaceMesh

# Amplitudes in units of the inter-ocular distance (outer eye corners).
JAW_MAX = 0.27
LIP_RAISE_MAX = 0.06
LIP_DEPRESS_MAX = 0.06
SPREAD_MAX = 0.07
PUCKER_MAX = 0.09
PUCKER_PART = 0.012  # IOD each lip moves apart at the middle in a full pucker with the jaw open
PUCKER_PART_JAW = 0.2  # jaw opening from which rounded lips part fully (closed jaw: they meet)
SMILE_OUT = 0.06
SMILE_UP = 0.055
BROW_MAX = 0.085
LID_SHARE = 0.8  # the upper lid travels this share of the eye opening ...
LOWER_LID_SHARE = 0.2  # ... and the lower lid the rest: they meet exactly
LID_OVERLAP = 0.012  # IOD the closed upper lid reaches past the meeting line
EDGE_FADE = 0.25  # face widths over which motion fades to zero at the region's border
MIN_AREA = 0.1  # least area a skin triangle keeps, as a share of its rigidly turned area
OVERSHOOT = 0.25  # each fold-guard pass aims this much past the bound, to settle in fewer
FOLD_TOL = 1e-3  # px² of area shortfall the fold guard leaves alone (rounding noise)
RELAX = 1.6  # over-relaxation of the averaged fold-guard corrections (converges in fewer passes)
FOLD_ITERATIONS = 30
LASH_CARRY = 0.85  # share of the lid's travel the crease ring above the lashes follows

BASES = (
    "jaw_open",
    "spread",
    "pucker",
    "pucker_part",
    "upper_lip_raise",
    "lower_lip_depress",
    "smile",
    "brow_inner",
    "brow_outer",
    "blink_left",
    "blink_right",
    "gaze_x",
    "gaze_y",
    "seal",
)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def photo_rest_jaw(landmarks: np.ndarray) -> float:
    """The ``jaw_open`` that reproduces the photo's own mouth: 0 for closed lips, more for
    a photo taken with parted lips (a toothy smile). ``landmarks``: (>= 468, 2) pixels."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    ex = xy[263] - xy[33]
    iod = float(np.linalg.norm(ex))
    ey = np.array([-ex[1], ex[0]]) / iod
    lower, upper = xy[list(R.LIPS_LOWER_INNER[3:8])], xy[list(R.LIPS_UPPER_INNER[3:8])]
    gap = float(np.max((lower - upper) @ ey)) / iod
    return float(np.clip(gap / JAW_MAX, 0.0, 1.0)) if gap > 0.03 else 0.0


class FaceDeformer:
    """Maps one frame of ``Motion`` values to destination vertex positions."""

    def __init__(
        self,
        mesh: FaceMesh,
        *,
        max_yaw: float = 20.0,
        max_pitch: float = 15.0,
        watch: np.ndarray | None = None,
        yaw_range: tuple[float, float] | None = None,
    ):
        """``watch``: (K,) bool, the skin triangles kept from folding (default: all); the
        eye and mouth holes are left out, so their lids and lips stay independent.
        ``yaw_range``: (least, most) yaw in degrees, default ±``max_yaw``; a 3/4 view gets
        less room toward its hidden side.  Yaw and pitch saturate softly at their limits."""
        self.mesh = mesh
        xy = mesh.vertices
        self.xy = xy
        ex = xy[263] - xy[33]
        self.iod = float(np.linalg.norm(ex))
        self.ex = ex / self.iod
        self.ey = np.array([-self.ex[1], self.ex[0]])
        self.mouth_centre = (xy[13] + xy[14] + xy[61] + xy[291]) / 4
        rel = xy - self.mouth_centre
        self.u = rel @ self.ex / self.iod
        self.v = rel @ self.ey / self.iod
        self.half_mouth = max(0.15, float(abs(self.u[291] - self.u[61]) / 2))
        oval = xy[list(R.FACE_OVAL)]
        self.face_width = float(oval[:, 0].max() - oval[:, 0].min())
        self.pivot = (xy[33] + xy[263] + xy[61] + xy[291]) / 4
        self.pivot_z = float(mesh.depth[: R.N_MESH].mean() - 0.55 * self.face_width)
        self.max_yaw = max_yaw
        self.yaw_range = (-max_yaw, max_yaw) if yaw_range is None else yaw_range
        self._rel0 = np.column_stack([xy - self.pivot, mesh.depth - self.pivot_z])
        self.max_pitch = max_pitch
        self._lip_sets()
        # jaw_open is absolute: 0 means lips together.  A photo taken with the mouth open
        # (a toothy smile) rests at its own opening, so jaw 0 seals the lips for p/b/m and
        # the photo's own opening is reproduced at jaw = rest_jaw.
        self.rest_jaw = photo_rest_jaw(xy)
        self._neighbours = _neighbours(mesh.triangles, len(xy))
        # Motion fades out next to the region's pinned border (a face cut by the photo's
        # edge): what touches the edge is clamped rather than crushed against it.
        edge = xy[mesh.fixed]
        if len(edge):
            lo, hi = edge.min(0), edge.max(0)
            dist = np.minimum(xy - lo, hi - xy).min(1)
            self._edge_fade = _smooth(dist / (EDGE_FADE * self.face_width))[:, None]
        else:
            self._edge_fade = np.ones((len(xy), 1))
        self._guard = _FoldGuard(mesh, watch, self._edge_fade[:, 0])
        fields = [self._with_mouth_midline(getattr(self, f"_basis_{name}")()) for name in BASES]
        self.basis = np.stack([f.reshape(-1) for f in fields])  # (B, N*2)
        self.basis[:, np.repeat(mesh.fixed, 2)] = 0.0

    # -- helpers ---------------------------------------------------------------------------
    def _with_mouth_midline(self, field: np.ndarray) -> np.ndarray:
        """The mid-line copies move exactly with the lip they belong to."""
        field[self.mesh.mid_upper] = field[list(R.LIPS_UPPER_INNER[1:-1])]
        field[self.mesh.mid_lower] = field[list(R.LIPS_LOWER_INNER[1:-1])]
        return field

    def _to_image(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        """Face-local (u right, v down; IOD units) displacement -> image pixels."""
        return (np.outer(du, self.ex) + np.outer(dv, self.ey)) * self.iod

    def _propagate(self, driven: dict[int, np.ndarray], radius: float) -> np.ndarray:
        """Spread displacements of driven vertices to neighbours within ``radius`` IOD.

        Zero-displacement entries act as anchors that stop the spread.
        """
        n = len(self.xy)
        out = np.zeros((n, 2))
        idx = np.array(list(driven.keys()), dtype=np.int64)
        disp = np.array([driven[i] for i in idx], dtype=np.float64)
        out[idx] = disp
        moving = np.linalg.norm(disp, axis=1) > 1e-9
        if not moving.any():
            return out
        others = np.setdiff1d(np.arange(n), idx)
        others = others[~self.mesh.fixed[others]]
        d = np.linalg.norm(self.xy[others, None, :] - self.xy[None, idx, :], axis=2) / self.iod
        sigma = radius / 2.5
        k = np.exp(-((d / sigma) ** 2)) + 1e-12
        blend = (k @ disp) / k.sum(1, keepdims=True)
        dmin = d[:, moving].min(1)
        atten = _smooth(1.0 - dmin / radius)
        out[others] = blend * atten[:, None]
        return self._relax(out, free=others[dmin < radius])

    def _relax(self, field: np.ndarray, free: np.ndarray, iterations: int = 12) -> np.ndarray:
        """Laplacian smoothing of the spread part, so no skin triangle is squeezed inside out."""
        nb = self._neighbours
        for _ in range(iterations):
            avg = np.array([field[nb[i]].mean(0) if len(nb[i]) else field[i] for i in free])
            field[free] = 0.5 * field[free] + 0.5 * avg
        return field

    def _lip_profile(self, ids) -> np.ndarray:
        """1 at the centre of the mouth, ~0.45 at the corners."""
        x = np.clip(np.abs(self.u[list(ids)]) / self.half_mouth, 0, 1)
        return 0.45 + 0.55 * (1 - x**2)

    def _anchors(self, ids, into: dict[int, np.ndarray]) -> None:
        for i in ids:
            into.setdefault(int(i), np.zeros(2))

    # -- mouth -----------------------------------------------------------------------------
    _CORNERS = (61, 291, 78, 308)

    def _lip_sets(self) -> None:
        """Every landmark on the upper or the lower lip (contours and the points between)."""
        import cv2

        def depth(outer, inner) -> np.ndarray:
            poly = np.concatenate([self.xy[list(outer)], self.xy[list(inner)][::-1]])
            contour = poly.astype(np.float32).reshape(-1, 1, 2)
            return np.array(
                [
                    cv2.pointPolygonTest(contour, tuple(map(float, self.xy[i])), True)
                    for i in range(R.N_MESH)
                ]
            )

        corners = set(self._CORNERS)
        d_up = depth(R.LIPS_UPPER_OUTER, R.LIPS_UPPER_INNER)
        d_lo = depth(R.LIPS_LOWER_OUTER, R.LIPS_LOWER_INNER)
        tol = 0.02 * self.iod
        up = {i for i in range(R.N_MESH) if d_up[i] > -tol and d_up[i] >= d_lo[i]}
        lo = {i for i in range(R.N_MESH) if d_lo[i] > -tol and d_lo[i] > d_up[i]}
        up = (up | set(R.LIPS_UPPER_OUTER + R.LIPS_UPPER_INNER)) - corners
        lo = (lo | set(R.LIPS_LOWER_OUTER + R.LIPS_LOWER_INNER)) - corners
        self._UPPER = tuple(sorted(up - set(R.LIPS_LOWER_OUTER + R.LIPS_LOWER_INNER)))
        self._LOWER = tuple(sorted(lo - set(R.LIPS_UPPER_OUTER + R.LIPS_UPPER_INNER)))
        self._CORNERS = tuple(sorted(corners))

    def _upper_face(self) -> np.ndarray:
        """Landmarks clearly above the mouth (nose, eyes, forehead): anchors for mouth fields."""
        ids = np.arange(R.N_MESH)
        return ids[self.v[: R.N_MESH] < -0.32]

    def _basis_jaw_open(self) -> np.ndarray:
        driven: dict[int, np.ndarray] = {}
        prof = self._lip_profile(self._LOWER)
        corner_drop = 0.22 * JAW_MAX
        corner_xy = self.xy[[61, 291]]
        for i, p in zip(self._LOWER, prof):
            # Points hugging a corner drop with it; otherwise they pass below the corner and
            # the tiny corner triangles fold.
            d = np.linalg.norm(corner_xy - self.xy[i], axis=1).min() / self.iod
            near = float(np.exp(-((d / 0.05) ** 2)))
            drop = (1 - near) * JAW_MAX * p + near * corner_drop
            driven[i] = self._to_image(np.zeros(1), np.array([drop]))[0]
        for i in self._CORNERS:
            driven[i] = self._to_image(np.zeros(1), np.array([corner_drop]))[0]
        # The upper lip near the corners is pulled down a little with them.
        for i in self._UPPER:
            d = np.linalg.norm(corner_xy - self.xy[i], axis=1).min() / self.iod
            pull = corner_drop * max(0.0, 1.0 - d / 0.22) ** 2
            driven[i] = self._to_image(np.zeros(1), np.array([pull]))[0]
        # The chin and the jaw line drop with the jaw, less toward the ears.
        ids = np.arange(R.N_MESH)
        below_lip = float(self.v[17]) + 0.03  # everything under the lower lip's outer edge
        chin = [i for i in ids[(self.v[: R.N_MESH] > below_lip)] if i not in self._LOWER]
        for i in chin:
            # The jaw turns about the ears: the chin travels almost as far as the lower lip.
            fall = np.clip(1 - (self.u[i] / 1.15) ** 2, 0.08, 1.0)
            driven[int(i)] = self._to_image(np.zeros(1), np.array([JAW_MAX * 0.95 * fall]))[0]
        self._anchors(self._UPPER, driven)
        self._anchors(self._upper_face(), driven)
        return self._propagate(driven, radius=0.6)

    def _basis_upper_lip_raise(self) -> np.ndarray:
        driven: dict[int, np.ndarray] = {}
        for i, p in zip(self._UPPER, self._lip_profile(self._UPPER)):
            driven[i] = self._to_image(np.zeros(1), np.array([-LIP_RAISE_MAX * p]))[0]
        self._anchors(self._LOWER + self._CORNERS, driven)
        self._anchors(self._upper_face(), driven)
        return self._propagate(driven, radius=0.3)

    def _basis_lower_lip_depress(self) -> np.ndarray:
        driven: dict[int, np.ndarray] = {}
        for i, p in zip(self._LOWER, self._lip_profile(self._LOWER)):
            driven[i] = self._to_image(np.zeros(1), np.array([LIP_DEPRESS_MAX * p]))[0]
        self._anchors(self._UPPER + self._CORNERS, driven)
        ids = np.arange(R.N_MESH)
        self._anchors(ids[self.v[: R.N_MESH] > 0.55], driven)
        return self._propagate(driven, radius=0.3)

    def _horizontal(self, out: float, up: float, vertical_squeeze: float, radius: float):
        driven: dict[int, np.ndarray] = {}
        lips = self._LOWER + self._UPPER + self._CORNERS
        for i in lips:
            x = float(np.clip(self.u[i] / self.half_mouth, -1, 1))
            du = out * x
            dv = up * abs(x) ** 1.5
            if i in self._UPPER:
                dv -= vertical_squeeze * (1 - abs(x))
            elif i in self._LOWER:
                dv += vertical_squeeze * (1 - abs(x))
            driven[i] = self._to_image(np.array([du]), np.array([dv]))[0]
        self._anchors(self._upper_face(), driven)
        return self._propagate(driven, radius=radius)

    def _basis_spread(self) -> np.ndarray:
        return self._horizontal(SPREAD_MAX, 0.0, 0.0, 0.4)

    def _basis_pucker(self) -> np.ndarray:
        return self._horizontal(-PUCKER_MAX, 0.0, 0.0, 0.35)

    def _basis_pucker_part(self) -> np.ndarray:
        """Rounded lips parting at the middle ("oo"); only as far as the jaw is open, so a
        p/b/m closure after a rounded vowel ("room") keeps the lips together."""
        return self._horizontal(0.0, 0.0, PUCKER_PART, 0.35)

    def _basis_smile(self) -> np.ndarray:
        return self._horizontal(SMILE_OUT, -SMILE_UP, 0.0, 0.55)

    # -- brows -----------------------------------------------------------------------------
    def _basis_brow(self, inner: bool) -> np.ndarray:
        driven: dict[int, np.ndarray] = {}
        for brow in (R.RIGHT_BROW, R.LEFT_BROW):
            n = len(brow) // 2
            for rank, (a, b) in enumerate(zip(brow[:n], brow[n:])):
                t = rank / (n - 1)  # 0 outer .. 1 inner
                wgt = t if inner else 1 - t
                wgt = 0.25 + 0.75 * wgt
                for i in (a, b):
                    driven[i] = self._to_image(np.zeros(1), np.array([-BROW_MAX * wgt]))[0]
        # Skin points hugging the brow ride with their nearest brow point.
        brow_ids = np.array(list(driven.keys()))
        for i in range(R.N_MESH):
            if i in driven:
                continue
            d = np.linalg.norm(self.xy[brow_ids] - self.xy[i], axis=1) / self.iod
            if d.min() < 0.07:
                driven[i] = driven[int(brow_ids[np.argmin(d)])].copy()
        self._anchors(R.RIGHT_EYE_UPPER + R.LEFT_EYE_UPPER + R.RIGHT_EYE_LOWER, driven)
        self._anchors(R.LEFT_EYE_LOWER + (R.NOSE_TIP,), driven)
        return self._propagate(driven, radius=0.55)

    def _basis_brow_inner(self) -> np.ndarray:
        return self._basis_brow(True)

    def _basis_brow_outer(self) -> np.ndarray:
        return self._basis_brow(False)

    # -- eyes ------------------------------------------------------------------------------
    def _basis_blink(self, upper, lower, hub: int, brow) -> np.ndarray:
        driven: dict[int, np.ndarray] = {}
        lx = self.xy[list(lower), 0]
        ly = self.xy[list(lower), 1]
        order = np.argsort(lx)
        gap_at = lambda x, y: max(0.0, float(np.interp(x, lx[order], ly[order])) - y)  # noqa: E731
        # The closed lids overlap by a pixel or so: no slit of eye is left between them.
        overlap = max(1.2, LID_OVERLAP * self.iod)
        for i in upper[1:-1]:
            gap = gap_at(*self.xy[i])
            # (tapered toward the corners, where the opening is thin)
            driven[i] = np.array([0.0, LID_SHARE * gap + min(overlap, 0.25 * gap)])
        # The lash band (lid margin up to the crease ring) slides down almost rigidly, so
        # the lashes stay a thin line at the bottom of the closing lid and the skin above
        # the crease is what stretches.
        eye = set(int(i) for i in upper) | set(int(i) for i in lower)
        carried: dict[int, list[float]] = {}
        for i in upper[1:-1]:
            for j in self._neighbours[i]:
                j = int(j)
                if j < R.N_MESH and j not in eye and self.xy[j, 1] < self.xy[i, 1]:
                    carried.setdefault(j, []).append(float(driven[i][1]))
        for j, travel in carried.items():
            driven[j] = np.array([0.0, LASH_CARRY * float(np.mean(travel))])
        ux = self.xy[list(upper), 0]
        uy = self.xy[list(upper), 1]
        uorder = np.argsort(ux)
        for i in lower[1:-1]:
            gap = max(0.0, self.xy[i, 1] - float(np.interp(self.xy[i, 0], ux[uorder], uy[uorder])))
            driven[i] = np.array([0.0, -LOWER_LID_SHARE * gap])
        hx, hy = self.xy[hub]
        gap = gap_at(hx, float(np.interp(hx, ux[uorder], uy[uorder])))
        t = (float(np.interp(hx, lx[order], ly[order])) - hy) / max(gap, 1e-6)
        driven[hub] = np.array([0.0, gap * (t - LOWER_LID_SHARE)])
        self._anchors((upper[0], upper[-1]), driven)
        self._anchors(brow, driven)
        field = self._propagate(driven, radius=0.32)
        return field

    def _basis_blink_right(self) -> np.ndarray:
        return self._basis_blink(R.RIGHT_EYE_UPPER, R.RIGHT_EYE_LOWER, 468, R.RIGHT_BROW)

    def _basis_blink_left(self) -> np.ndarray:
        return self._basis_blink(R.LEFT_EYE_UPPER, R.LEFT_EYE_LOWER, 473, R.LEFT_BROW)

    def _basis_gaze(self, axis: int) -> np.ndarray:
        out = np.zeros((len(self.xy), 2))
        for hub, upper in ((468, R.RIGHT_EYE_UPPER), (473, R.LEFT_EYE_UPPER)):
            eye_w = float(np.linalg.norm(self.xy[upper[0]] - self.xy[upper[-1]]))
            travel = 0.16 * eye_w if axis == 0 else 0.07 * eye_w
            out[hub] = (self.ex if axis == 0 else self.ey) * travel
        return out

    def _basis_gaze_x(self) -> np.ndarray:
        return self._basis_gaze(0)

    def _basis_gaze_y(self) -> np.ndarray:
        return self._basis_gaze(1)

    # -- per frame -------------------------------------------------------------------------
    def _seal(self, jaw: float) -> float:
        """How far a photo's open mouth is closed: 1 at jaw 0, 0 from its own opening up."""
        if self.rest_jaw <= 0:
            return 0.0
        return float(np.clip(1.0 - max(jaw, 0.0) / self.rest_jaw, 0.0, 1.0))

    def _basis_seal(self) -> np.ndarray:
        """Parted lips (photos only) closed onto one meeting line, each lip moved whole.

        The lips meet on the straight line between the inner corners, held between the two
        inner lips: a raised (arched) upper lip comes down to it and the lower lip rises the
        rest, as a relaxed mouth closes.  Sealing onto an arched upper lip would bend the
        lower lip into a frown.  Every point of a lip moves with its inner edge at its x, so
        the lips keep their thickness; the corners stay put.
        """
        if self.rest_jaw <= 0:
            return np.zeros_like(self.xy)
        u, v = self.u, self.v
        a, b = R.LIPS_UPPER_INNER[0], R.LIPS_UPPER_INNER[-1]

        def line(ids):
            o = np.argsort(u[list(ids)])
            uu, vv = u[list(ids)][o], v[list(ids)][o]
            return lambda q: float(np.interp(q, uu, vv))

        upper, lower = line(R.LIPS_UPPER_INNER), line(R.LIPS_LOWER_INNER)
        span = float(u[b] - u[a]) or 1.0

        def travel(q: float) -> tuple[float, float]:
            """(upper lip down, lower lip up) at ``q``, in IOD."""
            t = float(np.clip((q - u[a]) / span, 0.0, 1.0))
            top, bottom = upper(q), max(lower(q), upper(q))
            meet = float(np.clip(v[a] + t * (v[b] - v[a]), top, bottom))
            return meet - top, bottom - meet

        driven: dict[int, np.ndarray] = {}
        for i in self._LOWER:
            driven[i] = self._to_image(np.zeros(1), np.array([-travel(u[i])[1]]))[0]
        for i in self._UPPER:
            driven[i] = self._to_image(np.zeros(1), np.array([travel(u[i])[0]]))[0]
        self._anchors(self._CORNERS, driven)
        self._anchors(self._upper_face(), driven)
        return self._propagate(driven, radius=0.45)

    def coefficients(self, frame: np.ndarray) -> np.ndarray:
        c = CHANNEL_INDEX
        spread = float(frame[c["lip_spread"]])
        jaw = float(frame[c["jaw_open"]])
        return np.array(
            [
                max(0.0, jaw - self.rest_jaw),
                max(0.0, spread),
                max(0.0, -spread),
                max(0.0, -spread) * _smooth(max(0.0, jaw) / PUCKER_PART_JAW),
                float(frame[c["upper_lip_raise"]]),
                float(frame[c["lower_lip_depress"]]),
                float(frame[c["smile"]]),
                float(frame[c["brow_inner"]]),
                float(frame[c["brow_outer"]]),
                float(np.clip(frame[c["blink_left"]], 0, 1)),
                float(np.clip(frame[c["blink_right"]], 0, 1)),
                float(np.clip(frame[c["gaze_x"]], -1, 1)),
                float(np.clip(frame[c["gaze_y"]], -1, 1)),
                self._seal(float(frame[c["jaw_open"]])),
            ]
        )

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Destination (N, 2) positions and (N,) depths for one motion frame."""
        local = (self.coefficients(frame) @ self.basis).reshape(-1, 2)
        pts = self.xy + local
        c = CHANNEL_INDEX
        yaw = math.radians(soft_limit(float(frame[c["yaw"]]), *self.yaw_range))
        pitch = math.radians(soft_limit(float(frame[c["pitch"]]), -self.max_pitch, self.max_pitch))
        roll = math.radians(float(frame[c["roll"]]))
        scale = 1.0 + float(frame[c["scale"]])
        shift = np.array([frame[c["tx"]], frame[c["ty"]]], dtype=np.float64) * self.face_width
        rel = np.column_stack([pts - self.pivot, self.mesh.depth - self.pivot_z])
        rot = _rotation(yaw, pitch, roll)
        moved = rel @ rot.T
        rigid_xy = self.pivot + scale * moved[:, :2] + shift
        w = self.mesh.rigid_weight[:, None]
        dst = pts + w * (rigid_xy - pts)
        dst = self.xy + self._edge_fade * (dst - self.xy)
        #: The neutral mesh turned rigidly with the head: triangles that face away there are
        #: hidden by the turn (occlusion), not folded by the deformation.
        self.last_rigid = self.pivot + scale * (self._rel0 @ rot[:2].T) + shift
        # The same head pose with no expression: what the fold guard measures areas against.
        pose = self.xy + self._edge_fade * (w * (self.last_rigid - self.xy))
        dst = self._guard(dst, self.last_rigid, pose)
        depth = moved[:, 2]
        return dst, depth


class _FoldGuard:
    """Keeps skin triangles from turning inside out, continuously in the motion.

    Each watched triangle keeps at least ``MIN_AREA`` of the area it has in the
    same head pose without expression (so a head turn that foreshortens a
    triangle is not fought, and the bound is always reachable).  Triangles
    under that bound are projected back onto it, position-based-dynamics style:
    their vertices move along the area gradient, weighted by how free each
    vertex is (pinned border 0, faded toward the region's edge), corrections of
    shared vertices averaged; a few vectorised passes.  The correction is zero
    at the bound and grows with the violation, so it fades in smoothly and never
    pops between frames.  Triangles the head turn faces away (occlusion, judged
    on the neutral mesh turned rigidly) are left alone.  Costs two signed-area
    passes when nothing is near a fold.
    """

    def __init__(self, mesh: FaceMesh, watch: np.ndarray | None, mobility: np.ndarray):
        self.tris = mesh.triangles
        area = _areas(mesh.vertices, self.tris)
        keep = np.abs(area) > 0.5 if watch is None else watch & (np.abs(area) > 0.5)
        self.keep = keep
        self.sign = np.sign(area)
        self.mobility = np.where(mesh.fixed, 0.0, np.maximum(mobility, 0.2))
        #: Passes the last frame needed (0: nothing was near a fold).
        self.last_iterations = 0

    def __call__(self, dst: np.ndarray, rigid: np.ndarray, pose: np.ndarray) -> np.ndarray:
        facing = self.keep & (_areas(rigid, self.tris) * self.sign > 0)
        ref = np.maximum(_areas(pose, self.tris) * self.sign, 0.0)
        bound = np.where(facing, MIN_AREA * ref, -np.inf)
        self.last_iterations = 0
        tris, n = self.tris, len(dst)
        for i in range(FOLD_ITERATIONS):
            short = bound - _areas(dst, tris) * self.sign
            hot = np.flatnonzero(short > FOLD_TOL)
            if not len(hot):
                break
            if i == 0:
                dst = dst.copy()
            self.last_iterations = i + 1
            t = tris[hot]
            p = dst[t]  # (H, 3, 2)
            # d(area)/d(vertex): the opposite edge turned by 90 degrees.
            opp = p[:, [2, 0, 1]] - p[:, [1, 2, 0]]  # c-b, a-c, b-a
            grad = np.stack([-opp[..., 1], opp[..., 0]], -1) * self.sign[hot, None, None]
            m = self.mobility[t]  # (H, 3)
            lam = short[hot] * (1.0 + OVERSHOOT) / np.maximum((m * (grad**2).sum(2)).sum(1), 1e-12)
            step = (grad * (m * lam[:, None])[..., None]).reshape(-1, 2)
            idx = t.reshape(-1)
            cnt = np.bincount(idx, minlength=n)
            moved = cnt > 0
            dst[moved, 0] += np.bincount(idx, step[:, 0], n)[moved] * (RELAX / cnt[moved])
            dst[moved, 1] += np.bincount(idx, step[:, 1], n)[moved] * (RELAX / cnt[moved])
        return dst


def soft_limit(x: float, lo: float, hi: float) -> float:
    """``x`` unchanged up to half of each limit, then easing into it (no kink, no plateau
    edge in a generated curve); ``lo <= 0 <= hi``."""
    lim = hi if x >= 0 else -lo
    knee = 0.5 * lim
    ax = abs(x)
    if ax <= knee or lim <= 0:
        return float(np.clip(x, lo, hi))
    return math.copysign(knee + knee * math.tanh((ax - knee) / knee), x)


def _areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def _neighbours(triangles: np.ndarray, n: int) -> list[np.ndarray]:
    sets: list[set[int]] = [set() for _ in range(n)]
    for a, b, c in triangles:
        sets[a].update((b, c))
        sets[b].update((a, c))
        sets[c].update((a, b))
    return [np.array(sorted(s), dtype=np.int64) for s in sets]


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Image axes x right, y down, z toward the camera; see CHANNEL_UNITS for the signs."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ryaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rpitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    rroll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rroll @ rpitch @ ryaw
