"""Which motion generator runs: "procedural" (rules) or "diffusion" (the trained model).

The diffusion model is the default when its weights (``weights/motion-diffusion``)
and PyTorch + diffusers are present; otherwise the procedural generator is, and
:func:`engine_notice` says why, so the fallback is never silent.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from avatar.errors import ModelError
from avatar.motion.procedural import generate_motion
from avatar.motion.types import Motion

log = logging.getLogger(__name__)

ENGINES = ("procedural", "diffusion")
MOTION_MODEL = "motion-diffusion"
_WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def motion_model_dir() -> Path | None:
    """The shipped motion model folder (checkout, installed file list or share/), or None."""
    repo = Path(__file__).resolve().parents[2] / "weights" / MOTION_MODEL
    if (repo / _WEIGHTS_FILE).is_file():
        return repo
    try:
        files = importlib.metadata.files("talking-avatar") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == _WEIGHTS_FILE and f.parent.name == MOTION_MODEL:
            path = Path(f.locate()).resolve()
            if path.is_file():
                return path.parent
    shared = Path(sys.prefix) / "share" / "talking-avatar" / "weights" / MOTION_MODEL
    return shared if (shared / _WEIGHTS_FILE).is_file() else None


def diffusion_unavailable() -> str | None:
    """Why the diffusion engine cannot run here (one sentence), or None when it can."""
    if motion_model_dir() is None:
        return f"the motion model (weights/{MOTION_MODEL}) is not installed"
    missing = [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]
    if missing:
        return f"the motion model needs {' and '.join(missing)} (pip install torch diffusers)"
    return None


def default_engine() -> str:
    """The diffusion engine when it can run, else the procedural one."""
    return "diffusion" if diffusion_unavailable() is None else "procedural"


def engine_notice(engine: str, defaulted: bool) -> str | None:
    """A user-facing sentence when the default had to fall back to procedural motion
    (never when the user chose the procedural engine)."""
    reason = diffusion_unavailable()
    if defaulted and engine == "procedural" and reason and motion_model_dir() is not None:
        return f"Procedural motion is used because {reason}."
    return None


@lru_cache(maxsize=2)
def _diffusion(directory: str) -> Callable[..., Motion]:
    from avatar.motion.diffusion.sampler import DiffusionMotionGenerator

    return DiffusionMotionGenerator.from_pretrained(directory)


def motion_generator(engine: str) -> Callable[..., Motion]:
    """The ``generate(features, mouth, controls) -> Motion`` callable for ``engine``."""
    if engine == "procedural":
        return generate_motion
    if engine == "diffusion":
        reason = diffusion_unavailable()
        if reason:
            raise ModelError(f"The diffusion motion cannot run because {reason}.")
        return _diffusion(str(motion_model_dir()))
    raise ModelError(f"Unknown motion engine '{engine}'; available: {', '.join(ENGINES)}.")
