"""The CPU ``warp`` renderer: FaceRig + Motion frame -> RGB frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from avatar.face import regions as R
from avatar.face.rig import FaceRig, outside_picture
from avatar.motion.types import CHANNEL_INDEX
from avatar.render.deform import FaceDeformer
from avatar.render.eyelid import EyelidCover
from avatar.render.mesh import build_mesh
from avatar.render.mouth import MouthInterior, refine_lip_opening
from avatar.render.warp import TriangleWarper

REGION_SCALE = 3.4  # the animated square, in face widths; outside it the photo never changes
INTERIOR_BIAS = -1e6  # the mouth hole is painted first, so lips, chin and cheeks cover it
EYE_BEHIND = 1.0  # depth (px) an eye hole is painted behind the deepest skin around it
MAX_TOTAL_YAW = 30.0  # degrees from the camera a turned face may reach turning further away
REVEAL_FROM = 15.0  # source yaw (degrees) past which turning back toward the camera shrinks
FOLD_EPS = 1e-3  # px² of reversed area that counts as a fold (not rounding noise)
# A face whose outer eye corners are closer than this (output pixels) is animated on an
# upscaled copy of its neighbourhood and pasted back at native resolution.
SMALL_IOD = 64.0
# A face whose eyes, brows or lips come nearer the picture's edge than EDGE_NEAR (px +
# interocular distances), or with more than EDGE_OUTSIDE of its landmarks outside it, is
# animated on a copy padded by reflection, so that every landmark lies EDGE_KEEP inside it
# (room for the eye, lid and mouth regions built around them). A chin just past the edge of
# a tight crop needs no padding.
EDGE_NEAR = (2.0, 0.3)
EDGE_OUTSIDE = 0.03
EDGE_KEEP = (8.0, 0.5)
FEATURES = np.unique(
    np.concatenate(
        [
            R.RIGHT_EYE_CONTOUR,
            R.LEFT_EYE_CONTOUR,
            R.RIGHT_BROW,
            R.LEFT_BROW,
            R.MOUTH_OUTER_CONTOUR,
        ]
    ).astype(int)
)
EDGE_YAW_CUT = 0.3  # share of the face outside the left/right edge at which that turn is least


class WarpRenderer:
    """Animates one portrait by warping it with a face mesh.

    ``size=None`` renders the full photo at its native resolution; an integer
    renders a square face crop of that many pixels.
    """

    name = "warp"

    def __init__(
        self,
        rig: FaceRig,
        *,
        size: int | None = None,
        grid_max: int = 256,
        upscale_small: bool = True,
        pad_edges: bool = True,
        yaw_room: tuple[float, float] = (1.0, 1.0),
    ):
        canvas, lm = _frame(rig, size)
        self.canvas = canvas
        xy = lm[:, :2]
        face_width = float(np.ptp(xy[: R.N_MESH, 0]))
        x0, y0, x1, y1 = self.region = _region(canvas.shape, xy, face_width)
        self._buffer = canvas.copy()
        self._patch = self._buffer[y0:y1, x0:x1]  # the animated region, a view
        #: (478, 2) landmarks of the last rendered frame, in output-frame pixels.
        self.last_landmarks: np.ndarray | None = None
        #: Skin triangles flipped inside out in the last rendered frame (0 when healthy).
        self.last_folds = 0
        #: Pixels of reflected photo added (top, bottom, left, right) for a face cut by the
        #: photo's edge; all zero when the whole face is inside the picture.
        self.edge_padding = edge_padding(canvas.shape, xy) if pad_edges else (0, 0, 0, 0)
        self._small: _SmallFace | _PaddedFace | None = None
        if any(self.edge_padding):
            self._small = _PaddedFace(rig, canvas, lm, self.edge_padding, grid_max, upscale_small)
            h, w = canvas.shape[:2]
            self.region = (0, 0, w, h)  # the padded copy animates the whole picture
            self._patch = self._buffer
        #: How many times larger than the output the face is animated (1, 2 or 4).
        self.upscale = upscale_factor(float(np.linalg.norm(xy[263] - xy[33])))
        if not upscale_small:
            self.upscale = 1
        if self._small is None and self.upscale > 1:
            self._small = _SmallFace(rig, canvas, lm, self.region, self.upscale, grid_max)
        if self._small is not None:
            # Mesh, deformer, mouth and lids live in the upscaled or padded copy's pixels.
            inner = self._small.renderer
            self.mesh, self.deformer, self.warper = inner.mesh, inner.deformer, inner.warper
            self.mouth, self.eyelids = inner.mouth, inner.eyelids
            if isinstance(self._small, _PaddedFace):
                self.upscale = inner.upscale  # the padded copy decides for itself
            return
        rlm = lm.copy()
        rlm[:, 0] -= x0
        rlm[:, 1] -= y0
        # A photo's parted lips: inner lip landmarks onto the lips' visible edges, so that
        # sealing the mouth keeps both lips whole.
        rlm[:, :2] = refine_lip_opening(canvas[y0:y1, x0:x1], rlm[:, :2])
        size_r = (x1 - x0, y1 - y0)
        self.mesh = build_mesh(rlm, size_r)
        # Turned heads get less rotation: the hidden side has no pixels to show.
        turn = max(0.35, 1.0 - abs(rig.yaw) / 55.0)
        max_yaw = 20.0 * turn
        away, toward = yaw_limits(rig.yaw, max_yaw)
        yaw_range = (-away, toward) if rig.yaw < 0 else (-toward, away)
        yaw_range = (yaw_range[0] * yaw_room[0], yaw_range[1] * yaw_room[1])
        n_interior = _interior_mask(self.mesh)
        src_area = signed_areas(self.mesh.vertices, self.mesh.triangles)
        # Skin triangles watched for folding (eye and mouth holes may collapse by design).
        self._fold_watch = ~n_interior & (np.abs(src_area) > 0.5)
        self._src_sign = np.sign(src_area)
        self.deformer = FaceDeformer(
            self.mesh,
            max_yaw=max_yaw,
            max_pitch=14.0 * turn,
            watch=self._fold_watch,
            yaw_range=yaw_range,
        )
        # Exact (full-resolution) map where lids meet and lips part, and across the cheeks to
        # the jaw line, where a turning face occludes what is behind it (a coarse map would
        # smear that silhouette): brows down to the chin plus the jaw's travel.
        core = rlm[list(R.RIGHT_BROW + R.LEFT_BROW + R.FACE_OVAL[8:29] + (R.CHIN,)), :2]
        pad = 0.1 * face_width
        core = np.vstack([core, rlm[R.CHIN, :2] + [0, 0.5 * face_width]])
        fine_box = (
            *np.floor(core.min(0) - pad).astype(int),
            *np.ceil(core.max(0) + pad).astype(int),
        )
        self.warper = TriangleWarper(
            self.mesh.vertices,
            self.mesh.triangles,
            size_r,
            offset=(x0, y0),
            fine_box=fine_box,
            grid_max=grid_max,
        )
        # The eye holes are painted just behind their own lids, not behind everything: on a
        # 3/4 view the far temple lies behind the far eye and slides over it as the head
        # turns away (a dark crescent of stretched temple and lash inside the eye).
        self._eye_layers = _eye_layers(self.mesh, n_interior)
        in_eye = np.zeros(len(n_interior), bool)
        for hole, _ in self._eye_layers:
            in_eye[hole] = True
        self._bias = np.where(n_interior & ~in_eye, INTERIOR_BIAS, 0.0)
        self.mouth = MouthInterior(canvas[y0:y1, x0:x1], rlm[:, :2], self.deformer.iod, self.mesh)
        self.eyelids = EyelidCover(
            canvas, self.mesh.vertices, (x0, y0), self.deformer.iod, self._lid_travel()
        )

    @property
    def output_size(self) -> tuple[int, int]:
        h, w = self.canvas.shape[:2]
        return w, h

    @property
    def rest_landmarks(self) -> np.ndarray:
        """(478, 2) landmarks of the photo as the renderer fitted them, in output pixels."""
        if self._small is not None:
            return self._small.to_output(self._small.renderer.rest_landmarks)
        return self.mesh.vertices[: self.mesh.n_landmarks] + self.region[:2]

    def render(self, frame: np.ndarray) -> np.ndarray:
        """One RGB frame; the returned buffer is reused by the next call."""
        if self._small is not None:
            self._small.render(frame, self._patch)
            self.last_landmarks = self._small.to_output(self._small.renderer.last_landmarks)
            self.last_folds = self._small.renderer.last_folds
            return self._buffer
        dst, depth = self.deformer(frame)
        self.last_landmarks = dst[: self.mesh.n_landmarks] + self.region[:2]
        self.last_folds = self.count_folds(dst, self.deformer.last_rigid)
        order = self.paint_order(depth)
        mx, my = self.warper.maps(dst, order)
        # Resampled straight into the output buffer (outside the region it is the photo).
        patch = self._patch
        cv2.remap(
            self.canvas,
            mx,
            my,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
            dst=patch,
        )
        self.mouth.draw(patch, dst)
        blinks = {k: float(frame[CHANNEL_INDEX[k]]) for k in ("blink_left", "blink_right")}
        self.eyelids.draw(patch, mx, my, dst, blinks)
        return self._buffer

    def _lid_travel(self) -> dict[str, np.ndarray]:
        """Per blink channel, where every vertex goes at blink 1 relative to blink 0."""
        rest = np.zeros(len(CHANNEL_INDEX), np.float32)
        base, _ = self.deformer(rest)
        out = {}
        for channel in ("blink_left", "blink_right"):
            frame = rest.copy()
            frame[CHANNEL_INDEX[channel]] = 1.0
            out[channel] = self.deformer(frame)[0] - base
        return out

    def paint_order(self, depth: np.ndarray) -> np.ndarray:
        """Triangle indices far to near for one frame's vertex ``depth``; each eye hole
        sits just behind the deepest triangle of its rim (lids and corners)."""
        if self._small is not None:
            return self._small.renderer.paint_order(depth)
        key = depth[self.mesh.triangles].mean(1)
        for hole, rim in self._eye_layers:
            key[hole] = key[rim].min() - EYE_BEHIND
        return np.argsort(key + self._bias, kind="stable")

    def count_folds(self, dst: np.ndarray, rigid: np.ndarray | None = None) -> int:
        """Watched skin triangles flipped inside out by the deformation.

        With ``rigid`` (the same frame with every vertex following the head fully),
        triangles that face away there are turned out of view, not folded, and don't count.
        """
        if self._small is not None:
            return self._small.renderer.count_folds(dst, rigid)
        tris = self.mesh.triangles
        flipped = self._fold_watch & (signed_areas(dst, tris) * self._src_sign < -FOLD_EPS)
        if rigid is not None and flipped.any():
            flipped &= signed_areas(rigid, tris) * self._src_sign > 0
        return int(flipped.sum())


class _SmallFace:
    """A small face animated on a k-times enlarged copy of its neighbourhood, so the mesh,
    mouth interior, lash lines and lid skin get enough pixels to be drawn smoothly; each
    frame is area-averaged back down to native resolution.

    The copy repeats every native pixel k x k times: averaged back down it gives the photo
    exactly, so wherever the animation leaves the photo alone the native pixels come back
    unchanged (no seam at the crop, no softening), and where it moves, each output pixel
    averages k² bilinear samples.
    """

    def __init__(self, rig: FaceRig, canvas: np.ndarray, lm: np.ndarray, region, k: int, grid):
        x0, y0, x1, y1 = region
        self.k = k
        self.origin = np.array([x0, y0], np.float64)
        self.size = (x1 - x0, y1 - y0)
        big = cv2.resize(
            canvas[y0:y1, x0:x1],
            (k * self.size[0], k * self.size[1]),
            interpolation=cv2.INTER_NEAREST,
        )
        blm = lm.astype(np.float64).copy()
        blm[:, :2] = (blm[:, :2] - self.origin + 0.5) * k - 0.5
        blm[:, 2] *= k
        crop_rig = FaceRig(big, blm, 0, [], rig.yaw, rig.pitch, rig.roll)
        self.renderer = WarpRenderer(crop_rig, size=None, grid_max=grid, upscale_small=False)

    def to_output(self, pts: np.ndarray) -> np.ndarray:
        return (pts + 0.5) / self.k - 0.5 + self.origin

    def render(self, frame: np.ndarray, patch: np.ndarray) -> None:
        big = self.renderer.render(frame)
        patch[...] = cv2.resize(big, self.size, interpolation=cv2.INTER_AREA)


class _PaddedFace:
    """A face cut by the picture's edge, animated on a copy of the picture padded by
    reflection so that every landmark, lid, lip and ring has pixels around it; each frame
    is cropped back to the picture.

    The eye, lid and mouth builders then never meet an empty region, and what the video
    shows is the photo's own content (a turning head pulls in mirrored photo at the edge).
    """

    def __init__(self, rig: FaceRig, canvas: np.ndarray, lm: np.ndarray, pad, grid, upscale):
        top, bottom, left, right = pad
        h, w = canvas.shape[:2]
        # the padded copy keeps even sides, so the full-photo renderer drops no row of it
        bottom += (h + top + bottom) % 2
        right += (w + left + right) % 2
        self.offset = np.array([left, top], np.float64)
        self.window = (slice(top, top + h), slice(left, left + w))
        big = cv2.copyMakeBorder(canvas, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        plm = lm.astype(np.float64).copy()
        plm[:, :2] += self.offset
        padded_rig = FaceRig(big, plm, 0, [], rig.yaw, rig.pitch, rig.roll)
        self.renderer = WarpRenderer(
            padded_rig,
            size=None,
            grid_max=grid,
            upscale_small=upscale,
            pad_edges=False,
            yaw_room=edge_yaw_room(lm[: R.N_MESH, 0], w),
        )

    def to_output(self, pts: np.ndarray) -> np.ndarray:
        return pts - self.offset

    def render(self, frame: np.ndarray, patch: np.ndarray) -> None:
        patch[...] = self.renderer.render(frame)[self.window]


def edge_yaw_room(x: np.ndarray, width: int) -> tuple[float, float]:
    """Share of the yaw range (negative, positive) a face cut by the left or right edge
    keeps: a head turning so that its cut side comes into view would show the mirrored
    padding there (a second nose at the edge), so that turn shrinks with the part cut off."""
    cut_left = float(np.mean(x < 0))
    cut_right = float(np.mean(x > width - 1))
    room = lambda cut: float(np.clip(1.0 - cut / EDGE_YAW_CUT, 0.15, 1.0))
    return room(cut_right), room(cut_left)


def edge_padding(shape, xy: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixels the picture must grow by for a face cut by its
    edge (every landmark then lies ``EDGE_KEEP`` inside); zeros for a face inside it."""
    h, w = shape[:2]
    iod = float(np.linalg.norm(xy[263] - xy[33]))

    def room(pts: np.ndarray) -> np.ndarray:
        lo, hi = pts.min(0), pts.max(0)
        return np.array([lo[1], h - 1 - hi[1], lo[0], w - 1 - hi[0]])

    near = room(xy[FEATURES]).min() < EDGE_NEAR[0] + EDGE_NEAR[1] * iod
    if not near and outside_picture(xy, shape).mean() <= EDGE_OUTSIDE:
        return 0, 0, 0, 0
    keep = EDGE_KEEP[0] + EDGE_KEEP[1] * iod
    top, bottom, left, right = (max(0, int(math.ceil(keep - r))) for r in room(xy[: R.N_MESH]))
    return top, bottom, left, right


def upscale_factor(iod: float) -> int:
    """1 for a face big enough to animate in place, else 2 or 4 (the crop's pixels double
    per step, so area averaging back down is exact on the pixel grid)."""
    if iod >= SMALL_IOD:
        return 1
    return 2 if 2 * iod >= SMALL_IOD else 4


def _region(shape, xy: np.ndarray, face_width: float) -> tuple[int, int, int, int]:
    """The animated box around the face, in output pixels (outside it nothing changes)."""
    h, w = shape[:2]
    centre = (xy[33] + xy[263] + xy[61] + xy[291]) / 4
    half = REGION_SCALE * face_width / 2
    x0 = int(max(0, math.floor(centre[0] - half)))
    y0 = int(max(0, math.floor(centre[1] - half * 1.05)))
    x1 = int(min(w, math.ceil(centre[0] + half)))
    y1 = int(min(h, math.ceil(centre[1] + half * 0.95)))
    return x0, y0, x1, y1


def yaw_limits(source_yaw: float, max_yaw: float) -> tuple[float, float]:
    """Degrees a face photographed at ``source_yaw`` may turn (further away, back toward
    the camera).

    Further away stops at ``MAX_TOTAL_YAW`` from the camera: past it the far eye and cheek
    are crushed against the hair.  Back toward the camera would reveal the far cheek, which
    a strong 3/4 photo does not show: past ``REVEAL_FROM`` the room shrinks to a tenth by
    ``REVEAL_FROM + 10`` degrees (a 25-degree photo shows a dark crack along the far cheek
    from a 2-degree turn back).
    """
    a = abs(source_yaw)
    away = min(max_yaw, max(0.0, MAX_TOTAL_YAW - a))
    toward = max_yaw * float(np.clip(1.0 - (a - REVEAL_FROM) / 10.0, 0.1, 1.0))
    return away, toward


def signed_areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (the sign is its orientation)."""
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def _interior_mask(mesh) -> np.ndarray:
    """Triangles inside the eye and mouth holes."""
    holes = set(R.LIPS_UPPER_INNER + R.LIPS_LOWER_INNER) | {468, 473}
    holes |= set(R.RIGHT_EYE_CONTOUR.tolist()) | set(R.LEFT_EYE_CONTOUR.tolist())
    holes |= set(mesh.mid_upper.tolist()) | set(mesh.mid_lower.tolist())
    return np.array([all(int(v) in holes for v in t) for t in mesh.triangles])


def _eye_layers(mesh, interior: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per eye: its hole triangles and the skin triangles touching its contour (the rim)."""
    out = []
    tris = mesh.triangles
    for contour, hub in ((R.RIGHT_EYE_CONTOUR, 468), (R.LEFT_EYE_CONTOUR, 473)):
        ring = np.isin(tris, contour)
        hole = interior & np.isin(tris, np.append(contour, hub)).all(1)
        rim = ~interior & ring.any(1)
        out.append((np.flatnonzero(hole), np.flatnonzero(rim)))
    return out


def _frame(rig: FaceRig, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The picture the video shows (full photo or square crop) and landmarks in its pixels."""
    img = rig.image
    lm = rig.landmarks.astype(np.float64).copy()
    h, w = img.shape[:2]
    if size is None:
        # H.264 yuv420p needs even dimensions: drop one row/column if needed.
        return np.ascontiguousarray(img[: h - h % 2, : w - w % 2]), lm
    x0, y0, x1, y1 = rig.crop_box()
    side = min(x1 - x0, w, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    crop = img[y0 : y0 + side, x0 : x0 + side]
    s = size / side
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    canvas = cv2.resize(crop, (size, size), interpolation=interp)
    lm[:, 0] = (lm[:, 0] - x0 + 0.5) * s - 0.5
    lm[:, 1] = (lm[:, 1] - y0 + 0.5) * s - 0.5
    lm[:, 2] *= s
    return canvas, lm
