"""What this installation can use: PyTorch's build and device, xformers, and the optional
models, each with one line saying what it does here (``avatar info``, the web app).

Nothing is downloaded and nothing heavy is built: PyTorch is imported (it is a
dependency), the rest is looked up.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

__all__ = ["Capability", "capabilities", "format_capabilities"]

GPU_INSTALL = "pip install -r requirements-gpu.txt"


@dataclass(frozen=True)
class Capability:
    name: str
    active: bool
    detail: str


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch() -> tuple[Capability, Capability, bool]:
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    cuda = torch.cuda.is_available()
    torch_line = Capability("PyTorch", True, f"{torch.__version__} ({build})")
    if cuda:
        gpu = Capability("CUDA GPU", True, torch.cuda.get_device_name(0))
    elif torch.version.cuda:
        gpu = Capability("CUDA GPU", False, "PyTorch has CUDA, but no GPU is visible")
    else:
        gpu = Capability("CUDA GPU", False, f"none (a CPU-only PyTorch; {GPU_INSTALL})")
    return torch_line, gpu, cuda


def _xformers(cuda: bool) -> Capability:
    from avatar.motion.diffusion.attention import xformers_installed

    version = _version("xformers")
    if version is None:
        return Capability(
            "xformers", False, f"not installed: attention runs on PyTorch's SDPA ({GPU_INSTALL})"
        )
    if not xformers_installed():
        return Capability("xformers", False, f"{version} is installed but does not import")
    if not cuda:
        return Capability("xformers", False, f"{version}, unused without a CUDA GPU (SDPA runs)")
    return Capability("xformers", True, f"{version}: the motion model's attention on the GPU")


def capabilities() -> list[Capability]:
    """Every optional part, active or not, with the reason."""
    from avatar.motion import diffusion_unavailable
    from avatar.render import neural_unavailable
    from avatar.speech.tts import is_available

    torch_line, gpu, cuda = _torch()
    motion = diffusion_unavailable()
    neural = neural_unavailable()
    tts = is_available()
    return [
        torch_line,
        gpu,
        _xformers(cuda),
        Capability(
            "Motion model", motion is None, motion or "the diffusion model (weights shipped)"
        ),
        Capability("Photoreal renderer", neural is None, neural or "LivePortrait on the GPU"),
        Capability("Wav2Lip refinement", *_wav2lip()),
        Capability("face-alignment", *_face_alignment()),
        Capability("librosa", *_librosa()),
        Capability("Text to speech", tts, "espeak-ng" if tts else "espeak-ng is not installed"),
    ]


def _wav2lip() -> tuple[bool, str]:
    from avatar.errors import AvatarError
    from avatar.refine import REFINERS, checkpoint_path

    for kind in REFINERS:
        try:
            checkpoint_path(kind)
        except AvatarError:
            continue
        return True, f"{kind} weights downloaded"
    return False, "no weights downloaded (avatar weights download wav2lip_gan)"


def _face_alignment() -> tuple[bool, str]:
    """Installed and with its weights: SFD boxes and FAN landmarks can run now."""
    version = _version("face-alignment")
    if version is None:
        return False, 'not installed: MediaPipe does all landmarks (pip install -e ".[fan]")'
    from avatar.face.fan import DOWNLOAD_COMMAND, missing_weights

    missing = missing_weights()
    if missing:
        return False, f"{version}, weights download on first use ({DOWNLOAD_COMMAND})"
    return True, f"{version}: --wav2lip-boxes sfd, avatar eval --tracker fan"


def _librosa() -> tuple[bool, str]:
    version = _version("librosa")
    if version is None:
        return False, 'not installed: needed by Wav2Lip refinement (pip install -e ".[refine]")'
    return True, f"{version}: the Wav2Lip mel filters"


def format_capabilities(items: list[Capability]) -> str:
    """A plain-text table: one line per part, ``yes``/``no`` and the detail."""
    width = max(len(c.name) for c in items)
    return "\n".join(
        f"{c.name:<{width}}  {'yes' if c.active else 'no ':<3}  {c.detail}" for c in items
    )
