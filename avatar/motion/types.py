"""The renderer-agnostic motion representation of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HEAD_CHANNELS = ("yaw", "pitch", "roll", "tx", "ty", "scale")
EYE_CHANNELS = ("blink_left", "blink_right", "gaze_x", "gaze_y")
BROW_CHANNELS = ("brow_inner", "brow_outer")
MOUTH_CHANNELS = ("jaw_open", "lip_spread", "upper_lip_raise", "lower_lip_depress", "smile")
CHANNELS: tuple[str, ...] = HEAD_CHANNELS + EYE_CHANNELS + BROW_CHANNELS + MOUTH_CHANNELS
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}

# Units, so that every generator and renderer reads the channels the same way.
CHANNEL_UNITS = {
    "yaw": "degrees, positive turns the face to the viewer's right",
    "pitch": "degrees, positive tilts the chin down (nod)",
    "roll": "degrees, positive tilts the head clockwise in the image",
    "tx": "fraction of face width, positive to the right",
    "ty": "fraction of face width, positive down",
    "scale": "relative change of face size, 0 = unchanged",
    "blink_left": "0 open ... 1 closed (subject's left eye)",
    "blink_right": "0 open ... 1 closed (subject's right eye)",
    "gaze_x": "-1 ... 1, fraction of the iris travel, positive to the right",
    "gaze_y": "-1 ... 1, fraction of the iris travel, positive down",
    "brow_inner": "-1 ... 1, positive raises the inner brow",
    "brow_outer": "-1 ... 1, positive raises the outer brow",
    "jaw_open": "0 closed ... 1 wide open",
    "lip_spread": "-1 pucker ... 1 wide",
    "upper_lip_raise": "0 ... 1",
    "lower_lip_depress": "0 ... 1",
    "smile": "0 ... 1",
}


def frame_vector(**values: float) -> np.ndarray:
    """One frame's (D,) float32 channel vector from named values, the rest 0: what a
    renderer's ``render`` takes, e.g. ``frame_vector(jaw_open=1.0, yaw=10.0)``."""
    v = np.zeros(len(CHANNELS), np.float32)
    for name, x in values.items():
        if name not in CHANNEL_INDEX:
            raise KeyError(f"Unknown motion channel '{name}'; channels: {', '.join(CHANNELS)}.")
        v[CHANNEL_INDEX[name]] = x
    return v


@dataclass
class Motion:
    """A (T, D) float32 array of named channels at the video frame rate."""

    values: np.ndarray
    fps: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != len(CHANNELS):
            raise ValueError(f"Motion values must be (T, {len(CHANNELS)}), got {self.values.shape}")

    @classmethod
    def zeros(cls, n_frames: int, fps: float) -> Motion:
        return cls(np.zeros((n_frames, len(CHANNELS)), np.float32), fps)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, CHANNEL_INDEX[name]]

    def __setitem__(self, name: str, value: np.ndarray | float) -> None:
        self.values[:, CHANNEL_INDEX[name]] = value

    def frame(self, t: int) -> dict[str, float]:
        return {name: float(self.values[t, i]) for i, name in enumerate(CHANNELS)}

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: self.values[:, i].copy() for i, name in enumerate(CHANNELS)}
