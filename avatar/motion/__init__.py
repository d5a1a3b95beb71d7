"""Motion stage: Speech + VisemeTrack -> Motion."""

from avatar.motion.engines import default_engine, diffusion_unavailable
from avatar.motion.procedural import MotionControls, generate_motion
from avatar.motion.types import CHANNELS, Motion

__all__ = [
    "CHANNELS",
    "Motion",
    "MotionControls",
    "default_engine",
    "diffusion_unavailable",
    "generate_motion",
]
