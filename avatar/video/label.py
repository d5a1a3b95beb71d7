"""A visible "AI-generated" label, drawn on every frame.

The label is rendered once into a small RGBA patch (``cv2.putText`` on a dark
rounded box); each frame then only alpha-blends that patch into one corner.
"""

from __future__ import annotations

import cv2
import numpy as np

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
DEFAULT_TEXT = "AI-generated"


class Label:
    """``Label(width, height).apply(frame)``: a copy of an RGB uint8 frame with the label on it."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        text: str = DEFAULT_TEXT,
        position: str = "bottom-right",
        size: float = 0.05,
    ) -> None:
        from avatar.errors import AvatarError

        if position not in POSITIONS:
            raise AvatarError(
                f"Unknown label position '{position}'; use one of {', '.join(POSITIONS)}."
            )
        if not 0.01 <= size <= 0.5:
            raise AvatarError(
                f"The label size must be between 0.01 and 0.5 of the height, not {size}."
            )
        font = cv2.FONT_HERSHEY_SIMPLEX
        text_h = max(8, int(round(size * height)))
        scale = cv2.getFontScaleFromHeight(font, text_h, 1)
        thickness = max(1, text_h // 12)
        (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
        pad = max(2, text_h // 3)
        pw = min(width, tw + 2 * pad)
        ph = min(height, th + base + 2 * pad)
        patch = np.zeros((ph, pw, 4), np.uint8)
        patch[..., 3] = 150  # translucent dark box
        cv2.putText(
            patch, text, (pad, pad + th), font, scale, (255, 255, 255, 255), thickness, cv2.LINE_AA
        )
        self.rgb = patch[..., :3].astype(np.float32)
        self.alpha = patch[..., 3:].astype(np.float32) / 255.0
        margin = max(2, int(0.02 * min(width, height)))
        self.x = margin if position.endswith("left") else width - pw - margin
        self.y = margin if position.startswith("top") else height - ph - margin
        self.x, self.y = max(0, self.x), max(0, self.y)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        frame = np.array(frame, np.uint8, copy=True)  # renderers may hand out shared buffers
        h, w = self.alpha.shape[:2]
        region = frame[self.y : self.y + h, self.x : self.x + w]
        rh, rw = region.shape[:2]
        a = self.alpha[:rh, :rw]
        blended = region.astype(np.float32) * (1.0 - a) + self.rgb[:rh, :rw] * a
        region[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return frame
