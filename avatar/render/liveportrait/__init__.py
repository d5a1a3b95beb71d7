"""LivePortrait-compatible networks that load the released human checkpoints.

Own PyTorch modules, key-for-key compatible with KwaiVGI/LivePortrait's
``liveportrait/base_models/*.pth`` and ``retargeting_models/*.pth`` (MIT).
Importing this package imports torch, so the rest of the project imports it
lazily, only when the neural renderer is asked for.
"""

from avatar.render.liveportrait.appearance import AppearanceFeatureExtractor
from avatar.render.liveportrait.checkpoint import (
    FILES,
    LivePortraitModels,
    build_liveportrait,
    load_liveportrait,
)
from avatar.render.liveportrait.config import LivePortraitDims
from avatar.render.liveportrait.generator import SPADEDecoder, SpectralConv2d
from avatar.render.liveportrait.motion_extractor import MotionExtractor
from avatar.render.liveportrait.retargeting import StitchingRetargetingNetwork
from avatar.render.liveportrait.testing import write_random_checkpoints
from avatar.render.liveportrait.warping import WarpingNetwork

__all__ = [
    "FILES",
    "AppearanceFeatureExtractor",
    "LivePortraitDims",
    "LivePortraitModels",
    "MotionExtractor",
    "SPADEDecoder",
    "SpectralConv2d",
    "StitchingRetargetingNetwork",
    "WarpingNetwork",
    "build_liveportrait",
    "load_liveportrait",
    "write_random_checkpoints",
]
