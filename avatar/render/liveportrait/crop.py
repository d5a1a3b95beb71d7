"""LivePortrait's face crop and paste-back, computed from our own MediaPipe landmarks.

The reference (``src/utils/crop.py``; ../shared/ref/liveportrait.md §4.9, §5.3)
crops a source portrait with a rotated square around InsightFace's 106 points:
anchors E (mid-point of the eye centres) and L (mouth centre) give the face's
"down" axis u_y; the landmarks' bounding box in that frame, times ``scale``
2.3 and shifted by ``vy`` -0.125 of its size toward the forehead, is warped
to a 512 square. The networks see that square resized to 256 (INTER_AREA), the
generator returns 512 pixels aligned with it, and paste-back warps them into
the photo under a feathered 512 mask.

Calibration to the reference's crop (no InsightFace here). The crop depends on
the landmarks only through the anchors and the bounding box's extremes. The
106 points span cheek to cheek (a jaw contour that starts at about eye level)
and brow top to chin; MediaPipe's 478 also cover the forehead, which made the
community MediaPipe ports' crops looser with the same 2.3. So the box here is
taken over the *anatomically matching* MediaPipe subset (the face oval from
ear to ear through the chin, without the forehead arc, plus brows, eyes, nose
and lips), and the anchors use the same definitions as the reference (eye
centre = mean of the two corners and the two mid-lids; mouth centre =
mid-point of the corners). Then scale 2.3 and vy -0.125 apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.face import regions as R

CROP_SIZE = 512  # the reference's source crop, and the generator's output size
INPUT_SIZE = 256  # what F and M see
SOURCE_SCALE = 2.3
SOURCE_VX = 0.0
SOURCE_VY = -0.125
MASK_INNER = (16, 496)  # the template is 255 on these pixels (inclusive), ramping to 0 outside
MASK_RAMP = 16.0  # grey levels per pixel across the border

#: MediaPipe points whose box matches the 106-point box (see the module docstring).
JAW_FROM_EAR_TO_EAR = R.FACE_OVAL[R.FACE_OVAL.index(356) : R.FACE_OVAL.index(127) + 1]
NOSE = (168, 6, 197, 195, 5, 4, 1, 2, 98, 327)
CROP_POINTS: tuple[int, ...] = tuple(
    dict.fromkeys(
        JAW_FROM_EAR_TO_EAR
        + R.RIGHT_BROW
        + R.LEFT_BROW
        + R.RIGHT_EYE_UPPER
        + R.RIGHT_EYE_LOWER
        + R.LEFT_EYE_UPPER
        + R.LEFT_EYE_LOWER
        + NOSE
        + R.LIPS_UPPER_OUTER
        + R.LIPS_LOWER_OUTER
    )
)
EYE_CENTRE_POINTS = ((33, 159, 133, 145), (263, 386, 362, 374))  # corners + mid-lids, per eye


@dataclass(frozen=True)
class FaceCrop:
    """A similarity between the photo and the 512 crop."""

    o2c: np.ndarray  # (2, 3) photo pixels -> crop pixels
    c2o: np.ndarray  # (2, 3) crop pixels -> photo pixels
    centre: tuple[float, float]  # in photo pixels
    size: float  # the crop's side in photo pixels
    angle: float  # radians; the crop's x axis is (cos, sin) in the photo
    dsize: int = CROP_SIZE

    @property
    def pixels_per_unit(self) -> float:
        """Photo pixels per keypoint unit (keypoints span [-1, 1] across the crop)."""
        return self.size / 2


def face_crop(
    landmarks: np.ndarray,
    *,
    scale: float = SOURCE_SCALE,
    vx: float = SOURCE_VX,
    vy: float = SOURCE_VY,
    dsize: int = CROP_SIZE,
    rotate: bool = True,
    points: tuple[int, ...] | None = CROP_POINTS,
) -> FaceCrop:
    """The reference's source crop from (478, 2|3) landmarks in photo pixels.

    ``points=None`` boxes all 478 points (the community MediaPipe ports' choice).
    """
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    eyes = [xy[list(idx)].mean(0) for idx in EYE_CENTRE_POINTS]
    e = (eyes[0] + eyes[1]) / 2
    mouth = (xy[R.MOUTH_CORNERS[0]] + xy[R.MOUTH_CORNERS[1]]) / 2
    down = mouth - e
    n = float(np.linalg.norm(down))
    uy = down / n if n > 1e-3 else np.array([0.0, 1.0])
    ux = np.array([uy[1], -uy[0]])
    pts = xy if points is None else xy[list(points)]
    c0 = pts.mean(0)
    rel = pts - c0
    local = np.stack([rel @ ux, rel @ uy], 1)
    lo, hi = local.min(0), local.max(0)
    mid = (lo + hi) / 2
    size = float(max(hi - lo)) * scale
    centre = c0 + ux * mid[0] + uy * mid[1] + ux * (vx * size) + uy * (vy * size)
    angle = float(np.arctan2(ux[1], ux[0])) if rotate else 0.0
    cos, sin = np.cos(angle), np.sin(angle)
    s = dsize / size
    cx, cy = centre
    o2c = np.array(
        [
            [s * cos, s * sin, dsize / 2 - s * (cos * cx + sin * cy)],
            [-s * sin, s * cos, dsize / 2 - s * (-sin * cx + cos * cy)],
        ]
    )
    c2o = np.linalg.inv(np.vstack([o2c, [0, 0, 1]]))[:2]
    return FaceCrop(o2c, c2o, (float(cx), float(cy)), size, angle, dsize)


def crop_image(image: np.ndarray, crop: FaceCrop) -> np.ndarray:
    """The dsize x dsize RGB crop (bilinear, black outside the photo, as the reference)."""
    return cv2.warpAffine(
        image,
        crop.o2c,
        (crop.dsize, crop.dsize),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def network_input(crop_rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(1, 3, 256, 256) float32 in [0, 1]: the crop resized with INTER_AREA, no normalisation."""
    small = cv2.resize(crop_rgb, (size, size), interpolation=cv2.INTER_AREA)
    x = np.clip(small.astype(np.float32) / 255.0, 0.0, 1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def mask_template(size: int = CROP_SIZE) -> np.ndarray:
    """(size, size) uint8 feather mask: 255 inside, a 16-per-pixel ramp, rounded corners.

    Generated to the reference's description of ``mask_template.png`` (255 on
    pixels 16..496 of a 512 square, falling to 0 at the edge).
    """
    k = size / CROP_SIZE
    lo, hi = MASK_INNER[0] * k, MASK_INNER[1] * k
    i = np.arange(size, dtype=np.float64)
    d = np.maximum(lo - i, 0) + np.maximum(i - hi, 0)  # pixels outside the inner square, per axis
    dist = np.hypot(d[:, None], d[None, :])
    return np.clip(255.0 - MASK_RAMP / k * dist, 0, 255).round().astype(np.uint8)


def output_frame(image: np.ndarray, crop_box, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The picture the video shows and the (2, 3) map from photo to its pixels.

    ``size=None``: the whole photo (even width and height for H.264); an integer:
    the square ``crop_box`` (as ``FaceRig.crop_box``) clipped to the photo and
    resized to ``size``, the same framing as the warp renderer.
    """
    h, w = image.shape[:2]
    if size is None:
        canvas = np.ascontiguousarray(image[: h - h % 2, : w - w % 2])
        return canvas, np.array([[1.0, 0, 0], [0, 1.0, 0]])
    x0, y0, x1, y1 = crop_box
    side = min(x1 - x0, w, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    s = size / side
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    canvas = cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=interp)
    to_out = np.array([[s, 0, (0.5 - x0) * s - 0.5], [0, s, (0.5 - y0) * s - 0.5]])
    return canvas, to_out


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(2, 3) affine ``a`` after ``b``."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]


class PasteBack:
    """Blends 512 generator outputs into a fixed canvas under the warped feather mask.

    Only the mask's bounding box is ever written: every other pixel of the
    returned frame is the canvas's, exactly.
    """

    def __init__(self, canvas: np.ndarray, crop_to_canvas: np.ndarray, dsize: int = CROP_SIZE):
        self.canvas = canvas
        h, w = canvas.shape[:2]
        corners = np.array([[0, 0, 1], [dsize, 0, 1], [0, dsize, 1], [dsize, dsize, 1]], float)
        box = corners @ crop_to_canvas.T
        x0, y0 = np.floor(box.min(0)).astype(int) - 1
        x1, y1 = np.ceil(box.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            x0 = y0 = x1 = y1 = 0
        self.box = (int(x0), int(y0), int(x1), int(y1))
        self.matrix = crop_to_canvas.copy()
        self.matrix[:, 2] -= (x0, y0)
        self.roi_size = (int(x1 - x0), int(y1 - y0))
        if x1 > x0:
            m = cv2.warpAffine(
                mask_template(dsize).astype(np.float32),
                self.matrix,
                self.roi_size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
            )
            self.mask = (m / 255.0)[..., None].astype(np.float32)
        else:
            self.mask = np.zeros((0, 0, 1), np.float32)
        self.dsize = dsize

    def __call__(self, generated: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """One (dsize, dsize, 3) uint8 output pasted into a copy of the canvas (or ``out``)."""
        if out is None:
            out = self.canvas.copy()
        x0, y0, x1, y1 = self.box
        if x1 == x0:
            return out
        warped = cv2.warpAffine(
            generated,
            self.matrix,
            self.roi_size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        ).astype(np.float32)
        base = self.canvas[y0:y1, x0:x1].astype(np.float32)
        blend = base + self.mask * (warped - base)
        out[y0:y1, x0:x1] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
        return out
