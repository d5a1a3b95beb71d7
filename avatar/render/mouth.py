"""A synthesised mouth interior (cavity, teeth, tongue) drawn inside the parted lips.

Colours come from the portrait itself (lip colour for the cavity and tongue,
skin brightness for the teeth) so the interior sits in the photo's lighting.
Only the small box around the mouth is touched.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.face import regions as R
from avatar.render.deform import JAW_MAX

SHIFT = 3  # sub-pixel bits for polygon drawing


class MouthInterior:
    def __init__(self, image: np.ndarray, xy: np.ndarray, iod: float, mesh):
        self.iod = iod
        self.opening = mesh.mouth_opening
        self.mid_upper = mesh.mid_upper
        self.mid_lower = mesh.mid_lower
        src_gap = float(np.max(xy[list(R.LIPS_LOWER_INNER), 1] - xy[list(R.LIPS_UPPER_INNER), 1]))
        # A photo that already shows its teeth keeps them (they travel with the lips).
        self.synthetic_teeth = src_gap < 0.05 * iod
        self.lip = _mean_in(image, [xy[list(R.MOUTH_OUTER_CONTOUR)]], [xy[R.MOUTH_INNER_CONTOUR]])
        cheeks = [
            _disc(xy[205], 0.12 * iod),
            _disc(xy[425], 0.12 * iod),
        ]
        self.skin = _mean_in(image, cheeks, [])
        lum = float(self.skin @ np.array([0.299, 0.587, 0.114]))
        light = float(np.clip(lum / 165.0, 0.55, 1.08))
        self.teeth = np.array([238.0, 232.0, 220.0]) * light
        # A dark, warm cavity: mostly shadow, a little of the lip colour.
        self.cavity = np.clip(
            0.5 * self.lip * 0.25 + 0.5 * np.array([48.0, 20.0, 16.0]) * light, 0, 255
        )
        self.tongue = np.clip(self.lip * 0.62 + np.array([28.0, 8.0, 10.0]) * light, 0, 255)
        self.max_gap = JAW_MAX * iod

    def draw(self, patch: np.ndarray, dst: np.ndarray) -> None:
        inner = dst[self.opening]
        a, b = R.LIPS_UPPER_INNER[0], R.LIPS_UPPER_INNER[-1]
        upper = dst[[a, *self.mid_upper, b]]
        lower = dst[[a, *self.mid_lower, b]]
        gap = float(np.max(lower[3:8, 1] - upper[3:8, 1]))
        if gap < 0.8:
            return
        h, w = patch.shape[:2]
        x0 = max(0, int(np.floor(inner[:, 0].min())) - 3)
        y0 = max(0, int(np.floor(inner[:, 1].min())) - 3)
        x1 = min(w, int(np.ceil(inner[:, 0].max())) + 4)
        y1 = min(h, int(np.ceil(inner[:, 1].max())) + 4)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        off = np.array([x0, y0], np.float64)
        rw, rh = x1 - x0, y1 - y0

        def poly(pts: np.ndarray) -> np.ndarray:
            return np.round((pts - off) * (1 << SHIFT)).astype(np.int32)

        mask = np.zeros((rh, rw), np.uint8)
        cv2.fillPoly(mask, [poly(inner)], 255, cv2.LINE_AA, SHIFT)
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.6).astype(np.float32) / 255.0

        openness = float(np.clip(gap / self.max_gap, 0, 1))
        yy = (np.arange(rh, dtype=np.float32) + y0)[:, None]
        top = np.interp(np.arange(rw) + x0, upper[:, 0], upper[:, 1]).astype(np.float32)[None]
        bot = np.interp(np.arange(rw) + x0, lower[:, 0], lower[:, 1]).astype(np.float32)[None]
        depth = np.clip((yy - top) / np.maximum(bot - top, 1.0), 0, 1)
        shade = 0.55 + 0.45 * np.abs(depth - 0.5) * 2  # darkest at the back of the cavity
        layer = np.empty((rh, rw, 3), np.float32)
        layer[:] = self.cavity
        layer *= shade[..., None]

        width = float(upper[-1, 0] - upper[0, 0])
        cx = float((upper[0, 0] + upper[-1, 0]) / 2)
        tongue_h = 0.38 * gap * openness
        if tongue_h > 1.0:
            centre = (cx - x0, float(lower[5, 1]) - y0 - 0.1 * gap)
            t_mask = np.zeros((rh, rw), np.uint8)
            axes = (max(1, int(0.33 * width * (1 << SHIFT))), max(1, int(tongue_h * (1 << SHIFT))))
            c = (int(centre[0] * (1 << SHIFT)), int(centre[1] * (1 << SHIFT)))
            cv2.ellipse(t_mask, c, axes, 0, 180, 360, 255, -1, cv2.LINE_AA, SHIFT)
            ta = cv2.GaussianBlur(t_mask, (0, 0), 0.8).astype(np.float32)[..., None] / 255.0
            tongue = self.tongue * (0.7 + 0.3 * (1 - depth[..., None]))
            layer = layer * (1 - ta) + tongue * ta

        if self.synthetic_teeth:
            self._teeth(layer, upper, off, gap, width, cx, down=True)
        if self.synthetic_teeth and openness > 0.5:
            self._teeth(layer, lower, off, gap * (openness - 0.5) / 0.5, width, cx, down=False)

        roi = patch[y0:y1, x0:x1].astype(np.float32)
        a = alpha[..., None]
        patch[y0:y1, x0:x1] = np.clip(roi * (1 - a) + layer * a + 0.5, 0, 255).astype(np.uint8)

    def _teeth(self, layer, lip: np.ndarray, off, gap: float, width: float, cx: float, down: bool):
        """A band of teeth hanging from the upper lip (or standing on the lower lip)."""
        height = min((0.42 if down else 0.22) * gap, (0.11 if down else 0.07) * self.iod)
        if height < 0.7:
            return
        central = lip[1:-1]
        x = np.clip((central[:, 0] - cx) / (0.5 * width), -1, 1)
        profile = np.sqrt(np.clip(1 - (x / 0.82) ** 2, 0, 1))
        edge = central.copy()
        edge[:, 1] += (1 if down else -1) * height * profile
        pts = np.concatenate([central, edge[::-1]])
        m = np.zeros(layer.shape[:2], np.uint8)
        cv2.fillPoly(
            m, [np.round((pts - off) * (1 << SHIFT)).astype(np.int32)], 255, cv2.LINE_AA, SHIFT
        )
        a = cv2.GaussianBlur(m, (0, 0), 0.7).astype(np.float32)[..., None] / 255.0
        xs = (np.arange(layer.shape[1], dtype=np.float32) + off[0] - cx) / (0.5 * width)
        side = np.clip(1 - 0.55 * xs**2, 0.3, 1)[None, :, None]  # teeth darken toward the corners
        teeth = self.teeth * (0.85 if not down else 1.0) * side
        layer[:] = layer * (1 - a) + teeth * a


def _disc(c: np.ndarray, r: float) -> np.ndarray:
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    return np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1)


def _mean_in(image: np.ndarray, include: list[np.ndarray], exclude: list[np.ndarray]) -> np.ndarray:
    m = np.zeros(image.shape[:2], np.uint8)
    for p in include:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
    for p in exclude:
        cv2.fillPoly(m, [np.round(p).astype(np.int32)], 0)
    if m.sum() < 4:
        return np.array([150.0, 80.0, 80.0])
    return image[m.astype(bool)].reshape(-1, 3).astype(np.float64).mean(0)
