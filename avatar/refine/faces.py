"""Landmarks for every frame of an input video, with our own face stage (no extra detector).

The first frame (and any frame where tracking is lost) runs the MediaPipe
face detectors of ``avatar.face.detect``; other frames re-run only the face
mesh on a crop around the previous frame's landmarks, which is faster and
steadier. A frame without a face gives ``None`` (the refinement passes it
through untouched).
"""

from __future__ import annotations

import numpy as np

from avatar.face import regions as R
from avatar.face.detect import _mesh_in_box, detect_faces

MESH_SCALES = (1.9, 2.6, 1.4)  # as analyze_portrait tries them around a detector box
TRACK_SCALE = 1.5  # around the previous landmarks' bounding box
MIN_WIDTH = 24  # pixels across the face


class VideoFaceTracker:
    """Call with each RGB frame in order; returns (478, 3) landmarks in frame pixels or None."""

    def __init__(self, face_index: int = 0) -> None:
        self.face_index = face_index
        self._last: np.ndarray | None = None
        self.lost = 0  # frames without a face so far

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        lm = None
        if self._last is not None:
            lm = _mesh_in_box(rgb, _box_of(self._last), TRACK_SCALE)
        if lm is None:
            lm = self._detect(rgb)
        if lm is not None and np.ptp(lm[: R.N_MESH, 0]) < MIN_WIDTH:
            lm = None
        self._last = lm
        if lm is None:
            self.lost += 1
        return lm

    def _detect(self, rgb: np.ndarray) -> np.ndarray | None:
        boxes = detect_faces(rgb)
        if not boxes:
            return None
        if self._last is not None:  # the same person as before if possible
            centre = self._last[: R.N_MESH, :2].mean(0)
            boxes.sort(
                key=lambda b: np.hypot((b[0] + b[2]) / 2 - centre[0], (b[1] + b[3]) / 2 - centre[1])
            )
            box = boxes[0]
        else:
            box = boxes[min(self.face_index, len(boxes) - 1)]
        for scale in MESH_SCALES:
            lm = _mesh_in_box(rgb, box, scale)
            if lm is not None:
                return lm
        return None


def _box_of(lm: np.ndarray) -> tuple[int, int, int, int]:
    xy = lm[: R.N_MESH, :2]
    x0, y0 = np.floor(xy.min(0)).astype(int)
    x1, y1 = np.ceil(xy.max(0)).astype(int)
    return int(x0), int(y0), int(x1), int(y1)
