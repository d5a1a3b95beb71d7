"""Render stage: FaceRig + Motion -> frames.

``WarpRenderer`` is imported on first use, so that importing a sibling such as
``avatar.render.liveportrait`` (torch only) does not pull in OpenCV and SciPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avatar.render.warp_renderer import WarpRenderer

__all__ = ["WarpRenderer", "neural_unavailable"]


def neural_unavailable() -> str | None:
    """Why the photoreal (LivePortrait) renderer cannot run here, or None when it can."""
    from avatar.render.neural_renderer import neural_unavailable as _neural_unavailable

    return _neural_unavailable()


def __getattr__(name: str):
    if name == "WarpRenderer":
        from avatar.render.warp_renderer import WarpRenderer

        return WarpRenderer
    raise AttributeError(f"module 'avatar.render' has no attribute {name!r}")
