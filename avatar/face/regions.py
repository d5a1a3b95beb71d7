"""Named landmark regions of the 478-point face mesh, as ordered contours.

The index lists are facts of the mesh topology (they match the canonical
MediaPipe face model), kept here as plain data so the renderer and the
evaluation read the same definitions.
"""

from __future__ import annotations

import numpy as np

# Lips: corners are 61 (image left) and 291 (image right).
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)

# Eyes, named from the subject's point of view: the subject's right eye is on
# the image left.  Upper and lower lids share their corner points.
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)  # outer ... inner
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
RIGHT_BROW_INNER = (55, 65, 107, 66)
RIGHT_BROW_OUTER = (46, 53, 70, 63)
LEFT_BROW_INNER = (285, 295, 336, 296)
LEFT_BROW_OUTER = (276, 283, 300, 293)

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

N_MESH = 468  # landmarks of the face surface; 468..477 are the irises
N_LANDMARKS = 478


def _cycle(upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """A closed contour: upper left-to-right, then lower right-to-left."""
    return np.array(list(upper) + list(lower[-2:0:-1]), dtype=np.int64)


MOUTH_INNER_CONTOUR = _cycle(LIPS_UPPER_INNER, LIPS_LOWER_INNER)
MOUTH_OUTER_CONTOUR = _cycle(LIPS_UPPER_OUTER, LIPS_LOWER_OUTER)
RIGHT_EYE_CONTOUR = _cycle(RIGHT_EYE_UPPER, RIGHT_EYE_LOWER)
LEFT_EYE_CONTOUR = _cycle(LEFT_EYE_UPPER, LEFT_EYE_LOWER)

REGIONS: dict[str, tuple[int, ...]] = {
    "lips_upper_outer": LIPS_UPPER_OUTER,
    "lips_lower_outer": LIPS_LOWER_OUTER,
    "lips_upper_inner": LIPS_UPPER_INNER,
    "lips_lower_inner": LIPS_LOWER_INNER,
    "right_eye_upper": RIGHT_EYE_UPPER,
    "right_eye_lower": RIGHT_EYE_LOWER,
    "left_eye_upper": LEFT_EYE_UPPER,
    "left_eye_lower": LEFT_EYE_LOWER,
    "right_iris": RIGHT_IRIS,
    "left_iris": LEFT_IRIS,
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "face_oval": FACE_OVAL,
    "jaw": FACE_OVAL[12:25],
}


def mesh_triangles() -> np.ndarray:
    """Triangles of the face-surface tessellation, (K, 3) vertex indices.

    Derived from the bundled mesh connections: every 3-clique of the edge
    graph is a triangle.  Eyes and mouth are holes in this mesh.
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    tris = set()
    for a, b in edges:
        for c in neighbours[a] & neighbours[b]:
            tris.add(tuple(sorted((a, b, c))))
    return np.array(sorted(tris), dtype=np.int64)
