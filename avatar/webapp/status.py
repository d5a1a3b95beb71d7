"""What this server can do beyond the CPU default, each with one line for the page.

Wav2Lip refinement (its weights and PyTorch), the photoreal renderer (CUDA
and the LivePortrait weights), text to speech (espeak-ng) and the motion
engine. The checks never download anything and need no GPU to answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from avatar.errors import AvatarError
from avatar.webapp.messages import for_web

log = logging.getLogger(__name__)

#: Refiners in order of preference (the GAN checkpoint gives the sharper mouth).
WAV2LIP_KINDS = ("wav2lip_gan", "wav2lip")
WAV2LIP_FETCH = "avatar weights download wav2lip_gan"


@dataclass(frozen=True)
class FeatureStatus:
    available: bool
    reason: str
    kind: str | None = None  # what to ask for in the settings when available


def wav2lip_status() -> FeatureStatus:
    """Whether the Wav2Lip mouth pass can run here, and if not, one line saying why.

    Weights are only looked up locally (``avatar.refine.checkpoint_path``),
    whose error is the sentence with the exact command that fetches them.
    """
    from avatar.refine import checkpoint_path, require_torch

    first_error: AvatarError | None = None
    for kind in WAV2LIP_KINDS:
        try:
            checkpoint_path(kind)
        except AvatarError as exc:
            first_error = first_error or exc
            continue
        try:
            require_torch()
        except AvatarError as exc:
            return FeatureStatus(False, for_web(str(exc)))
        return FeatureStatus(True, "Sharpens the mouth with Wav2Lip (slower).", kind)
    if first_error is not None:
        return FeatureStatus(False, for_web(str(first_error)))
    return FeatureStatus(
        False, f"Wav2Lip weights are not downloaded; fetch them with `{WAV2LIP_FETCH}`."
    )


def neural_status() -> FeatureStatus:
    """Whether the photoreal (LivePortrait) renderer can run here: CUDA and the weights."""
    from avatar.render import neural_unavailable

    reason = neural_unavailable()
    if reason is not None:
        return FeatureStatus(False, for_web(reason))
    return FeatureStatus(True, "Photoreal face with LivePortrait's networks on the GPU.", "neural")


def motion_status() -> FeatureStatus:
    """The motion engine the page starts with, and whether the trained model can run."""
    from avatar.motion import default_engine, diffusion_unavailable

    reason = diffusion_unavailable()
    if reason is not None:
        return FeatureStatus(False, for_web(reason), default_engine())
    return FeatureStatus(
        True, "diffusion: the trained model; procedural: hand-made rules.", default_engine()
    )


def find_tts() -> Callable | None:
    """``avatar.speech.tts.synthesize`` when espeak-ng is installed, else None (the
    script tab is then hidden)."""
    from avatar.speech.tts import is_available, synthesize

    if not is_available():
        log.info("espeak-ng is not installed; the script tab stays hidden")
        return None
    return synthesize


def voice_names() -> list[str]:
    """The espeak-ng voices for the script tab's menu ([] without espeak-ng)."""
    from avatar.speech.tts import is_available, list_voices

    return [v.name for v in list_voices()] if is_available() else []


def server_report() -> str:
    """Markdown line: what this server computes on (PyTorch build, GPU, xformers)."""
    from avatar.system import capabilities

    shown = ("PyTorch", "CUDA GPU", "xformers")
    parts = [
        f"{c.name}: {c.detail if c.active else 'not in use'}"
        for c in capabilities()
        if c.name in shown
    ]
    return "**This server:** " + " · ".join(parts) + ". `avatar info` lists everything."
