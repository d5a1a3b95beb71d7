"""Motion stage: Speech + VisemeTrack -> Motion."""

from avatar.motion.procedural import MotionControls, generate_motion
from avatar.motion.types import CHANNELS, Motion

__all__ = ["CHANNELS", "Motion", "MotionControls", "generate_motion"]
