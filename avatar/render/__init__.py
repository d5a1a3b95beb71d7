"""Render stage: FaceRig + Motion -> frames."""

from avatar.render.warp_renderer import WarpRenderer

__all__ = ["WarpRenderer"]
