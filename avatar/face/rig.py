"""The analysed portrait that the renderer animates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatar.face import regions as R


@dataclass
class FaceRig:
    """One face of one photo: landmarks, depth, pose and framing.

    ``landmarks`` are (478, 3) in image pixels: x right, y down, z toward the
    camera (pixels, relative to the face centre), so 2.5-D rotations can be
    applied without another model.
    """

    image: np.ndarray
    landmarks: np.ndarray
    face_index: int
    face_boxes: list[tuple[int, int, int, int]]
    yaw: float
    pitch: float
    roll: float
    notices: list[str] = field(default_factory=list)

    @property
    def n_faces(self) -> int:
        return len(self.face_boxes)

    @property
    def xy(self) -> np.ndarray:
        return self.landmarks[:, :2]

    @property
    def box(self) -> tuple[float, float, float, float]:
        pts = self.xy[: R.N_MESH]
        return (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
        )

    @property
    def centre(self) -> np.ndarray:
        """Mid-point between the eyes and the mouth: the visual centre of the face."""
        eyes = (self.xy[33] + self.xy[263]) / 2
        mouth = (self.xy[61] + self.xy[291]) / 2
        return ((eyes + mouth) / 2).astype(np.float64)

    @property
    def face_width(self) -> float:
        x0, _, x1, _ = self.box
        return max(x1 - x0, self.interocular * 2.2)

    @property
    def interocular(self) -> float:
        """Distance between the outer eye corners, a scale unit robust to pose."""
        return float(np.linalg.norm(self.xy[263] - self.xy[33]))

    def region(self, name: str) -> np.ndarray:
        return self.landmarks[list(R.REGIONS[name])]

    def crop_box(self, scale: float = 2.4) -> tuple[int, int, int, int]:
        """A square around the face, ``scale`` face widths on a side, in image pixels."""
        cx, cy = self.centre
        cy -= 0.12 * self.face_width  # keep the forehead and hair in frame
        side = scale * self.face_width
        x0 = int(round(cx - side / 2))
        y0 = int(round(cy - side / 2))
        return x0, y0, x0 + int(round(side)), y0 + int(round(side))


def outside_picture(xy: np.ndarray, shape) -> np.ndarray:
    """Which of the face-mesh landmarks ``xy`` (N, 2+) lie outside a picture of ``shape``."""
    h, w = shape[:2]
    mesh = np.asarray(xy)[: R.N_MESH, :2]
    return (mesh[:, 0] < 0) | (mesh[:, 0] > w - 1) | (mesh[:, 1] < 0) | (mesh[:, 1] > h - 1)
