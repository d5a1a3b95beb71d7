"""The deformable mesh over a portrait: vertices, triangles and rigid weights.

Built once per portrait.  The face surface uses the face-mesh tessellation;
eyes and mouth get their own interior triangles (so lids can close and lips
can part); rings around the face carry head motion into hair, ears and neck
and decay to zero at the border of the animated region, so the background
never moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from avatar.face import regions as R

RING_SCALES = (1.18, 1.45, 1.85, 2.4)
RING_DEPTH = 0.1  # how far behind the face edge each ring lies, per face width of scale
IRIS_VERTICES = (468, 473)
LID_LIFT = 0.25  # share of the way from the upper-lid landmark to the crease ring
MID_SPLIT = 0.8  # where the mouth mid-line sits between the upper and lower inner lip


@dataclass
class FaceMesh:
    """Vertices in region coordinates (pixels of the animated region)."""

    vertices: np.ndarray  # (N, 2) float64 source positions
    depth: np.ndarray  # (N,) toward the camera, pixels
    rigid_weight: np.ndarray  # (N,) how much of the head's rigid motion each vertex follows
    triangles: np.ndarray  # (K, 3) int
    n_landmarks: int  # vertices [0, n_landmarks) are the face landmarks (0..477)
    fixed: np.ndarray  # (N,) bool, border vertices that never move
    mid_upper: np.ndarray  # vertex ids of the mouth mid-line that follows the upper lip
    mid_lower: np.ndarray  # ... and the copy that follows the lower lip

    @property
    def mouth_opening(self) -> np.ndarray:
        """Closed contour of the newly opened part of the mouth (between the mid-lines)."""
        a, b = R.LIPS_UPPER_INNER[0], R.LIPS_UPPER_INNER[-1]
        return np.array([a, *self.mid_upper, b, *self.mid_lower[::-1]], dtype=np.int64)


def build_mesh(landmarks: np.ndarray, region_size: tuple[int, int]) -> FaceMesh:
    """Mesh for landmarks already expressed in region coordinates (x, y, z)."""
    w, h = region_size
    lm = landmarks.astype(np.float64)
    xy = _lift_upper_lids(lm[:, :2].copy())
    oval = xy[list(R.FACE_OVAL)]
    centre = _face_centre(xy)
    face_width = float(oval[:, 0].max() - oval[:, 0].min())

    # Rings around the face, following the oval's shape, clipped to the region.
    ring_pts, ring_w, ring_z = [], [], []
    z_back = float(lm[list(R.FACE_OVAL), 2].min())
    below = (oval[:, 1] - centre[1]) > 0.15 * face_width  # jaw / chin side of the oval
    for k, s in enumerate(RING_SCALES):
        pts = centre + s * (oval - centre)
        # Hair and head follow the skull; the neck follows less; far rings barely move.
        weight_up = (0.95, 0.75, 0.4, 0.12)[k]
        weight_down = (0.7, 0.35, 0.12, 0.03)[k]
        wts = np.where(below, weight_down, weight_up)
        inside = (pts[:, 0] > 1) & (pts[:, 0] < w - 2) & (pts[:, 1] > 1) & (pts[:, 1] < h - 2)
        ring_pts.append(pts[inside])
        ring_w.append(wts[inside])
        # Each ring point sits at its oval point's depth, a little further back: the face
        # edge and the hair or ears just beyond it turn together, so a turning head shows
        # no hard silhouette against what is behind it (that would be a fold of the mesh).
        oval_z = lm[list(R.FACE_OVAL), 2]
        ring_z.append((oval_z - RING_DEPTH * face_width * (s - 1.0))[inside])
    border = _border_points(w, h, step=max(24.0, min(w, h) / 10))

    n_lm = lm.shape[0]
    # The mouth hole gets a mid-line, doubled: one copy rides with the upper lip, one with
    # the lower.  Whatever the photo shows between the lips (teeth of a smile) splits
    # with them, and the new gap between the copies is where the interior is drawn.
    up = list(R.LIPS_UPPER_INNER[1:-1])
    lo = list(R.LIPS_LOWER_INNER[1:-1])
    # A photo with parted lips mostly shows upper teeth: split low so they stay with the
    # upper lip (the skull) and the cavity opens below them.
    mid_xy = xy[up] + MID_SPLIT * (xy[lo] - xy[up])
    mid_z = lm[up, 2] + MID_SPLIT * (lm[lo, 2] - lm[up, 2])
    n_mid = len(up)
    mid_upper = np.arange(n_lm, n_lm + n_mid)
    mid_lower = np.arange(n_lm + n_mid, n_lm + 2 * n_mid)
    vertices = np.concatenate([xy, mid_xy, mid_xy, *ring_pts, border])
    depth = np.concatenate(
        [lm[:, 2], mid_z, mid_z, *ring_z, np.full(len(border), z_back - face_width)]
    )
    rigid = np.concatenate([np.ones(n_lm + 2 * n_mid), *ring_w, np.zeros(len(border))])
    fixed = np.zeros(len(vertices), bool)
    fixed[-len(border) :] = True

    triangles = _triangulate(vertices, n_lm, (w, h), mid_upper, mid_lower)
    return FaceMesh(vertices, depth, rigid, triangles, n_lm, fixed, mid_upper, mid_lower)


def _lift_upper_lids(xy: np.ndarray) -> np.ndarray:
    """Upper-lid vertices moved from the landmark onto the lash line.

    The tracker puts the upper lid a pixel or two inside the visible eye, so
    the top of the iris lies above it; a closing lid would then carry a strip
    of iris down with the lashes (a dark seam on the closed eye).  Lifting the
    margin a share of the way toward the crease ring keeps that strip inside
    the eye, where the lids cover it.
    """
    tris = R.mesh_triangles()
    for upper, lower in (
        (R.RIGHT_EYE_UPPER, R.RIGHT_EYE_LOWER),
        (R.LEFT_EYE_UPPER, R.LEFT_EYE_LOWER),
    ):
        eye = set(upper) | set(lower)
        lifted = {}
        for i in upper[1:-1]:
            nb = {int(v) for t in tris if i in t for v in t} - eye
            above = [j for j in nb if j < R.N_MESH and xy[j, 1] < xy[i, 1]]
            if above:
                lifted[i] = LID_LIFT * (xy[i, 1] - float(np.mean(xy[above, 1])))
        for i, dy in lifted.items():
            xy[i, 1] -= dy
    return xy


def _face_centre(xy: np.ndarray) -> np.ndarray:
    return (xy[33] + xy[263] + xy[61] + xy[291]) / 4.0


def _border_points(w: int, h: int, step: float) -> np.ndarray:
    nx = max(2, int(np.ceil((w - 1) / step)) + 1)
    ny = max(2, int(np.ceil((h - 1) / step)) + 1)
    xs = np.linspace(0, w - 1, nx)
    ys = np.linspace(0, h - 1, ny)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, h - 1)], 1)
    left = np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], w - 1), ys[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


def _inside(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in pts]
    )


def _strip_triangles(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Triangles between two lip lines that share their end points (the mouth hole)."""
    tris = []
    for i in range(len(upper) - 1):
        for t in ((upper[i], upper[i + 1], lower[i + 1]), (upper[i], lower[i + 1], lower[i])):
            if len(set(t)) == 3:
                tris.append(t)
    return tris


def _fan_triangles(contour: np.ndarray, hub: int) -> list[tuple[int, int, int]]:
    """Triangles from a closed contour to an inner hub (the eye around its iris centre)."""
    ring = [int(v) for v in contour]
    return [(ring[i], ring[(i + 1) % len(ring)], hub) for i in range(len(ring))]


def _triangulate(
    vertices: np.ndarray, n_lm: int, size: tuple[int, int], mid_upper, mid_lower
) -> np.ndarray:
    xy = vertices[:n_lm]
    face = [tuple(t) for t in R.mesh_triangles()]
    a, b = R.LIPS_UPPER_INNER[0], R.LIPS_UPPER_INNER[-1]
    line_up = (a, *(int(i) for i in mid_upper), b)
    line_lo = (a, *(int(i) for i in mid_lower), b)
    mouth = (
        _strip_triangles(R.LIPS_UPPER_INNER, line_up)
        + _strip_triangles(line_up, line_lo)
        + _strip_triangles(line_lo, R.LIPS_LOWER_INNER)
    )
    eyes = _fan_triangles(R.RIGHT_EYE_CONTOUR, 468) + _fan_triangles(R.LEFT_EYE_CONTOUR, 473)
    # Outside the face: Delaunay over the oval and everything beyond it.
    first_ring = int(mid_lower[-1]) + 1
    outer_idx = np.array(list(R.FACE_OVAL) + list(range(first_ring, len(vertices))))
    dt = Delaunay(vertices[outer_idx])
    oval_poly = xy[list(R.FACE_OVAL)]
    cand = outer_idx[dt.simplices]
    centroids = vertices[cand].mean(1)
    keep = ~_inside(oval_poly, centroids)
    outer = [tuple(t) for t in cand[keep]]
    tris = np.array(outer + face + mouth + eyes, dtype=np.int64)
    # Fill any gap the tessellation leaves inside the oval with Delaunay triangles, drawn
    # first so that real triangles win where they overlap.
    gaps = _gap_fill(vertices[:468], tris, oval_poly, size)
    if len(gaps):
        tris = np.concatenate([gaps, tris])
    return tris


def _gap_fill(xy: np.ndarray, tris: np.ndarray, oval: np.ndarray, size) -> np.ndarray:
    w, h = size
    covered = np.zeros((h, w), np.uint8)
    for t in tris:
        if t.max() < len(xy):
            cv2.fillConvexPoly(covered, np.round(xy[t] * 4).astype(np.int32), 1, cv2.LINE_8, 2)
    # Eyes and mouth interiors belong to their own triangles; count them as covered.
    for contour in (R.MOUTH_INNER_CONTOUR, R.RIGHT_EYE_CONTOUR, R.LEFT_EYE_CONTOUR):
        cv2.fillPoly(covered, [np.round(xy[contour]).astype(np.int32)], 1)
    inside = np.zeros_like(covered)
    cv2.fillPoly(inside, [np.round(oval).astype(np.int32)], 1)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
    holes = (inside == 1) & (covered == 0)
    if holes.sum() < 3:
        return np.zeros((0, 3), np.int64)
    dt = Delaunay(xy)
    c = xy[dt.simplices].mean(1)
    ci = np.clip(np.round(c).astype(int), 0, [w - 1, h - 1])
    hole_dist = cv2.distanceTransform((~holes).astype(np.uint8), cv2.DIST_L2, 3)
    near = hole_dist[ci[:, 1], ci[:, 0]] < 3
    return dt.simplices[near].astype(np.int64)
