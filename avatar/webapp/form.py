"""The settings widgets' choices, and ``GenerationSettings`` from their values.

Widget values arrive as floats, strings or None (a cleared number box, an API
call that leaves a setting out); each is checked here with one sentence for
a bad one.
"""

from __future__ import annotations

import math

from avatar.errors import AvatarError
from avatar.settings import PRESETS, GenerationSettings
from avatar.webapp.limits import MAX_AUDIO_SECONDS
from avatar.webapp.status import neural_status, wav2lip_status

#: (label, value) pairs of the Quality radio.
PRESET_CHOICES = [
    ("Fast", "fast"),
    ("Balanced", "balanced"),
    ("Quality", "quality"),
]


FRAMINGS: dict[str, int | None] = {
    "Face crop 512 × 512": 512,
    "Face crop 768 × 768": 768,
    "Full photo": None,
}


DEFAULT_FRAMING = "Face crop 512 × 512"


FPS_CHOICES = [24, 25, 30]


MAX_SEED = 2**31 - 1


#: (label, value) pairs of the Renderer radio.
RENDERER_CHOICES = [("Standard (CPU)", "warp"), ("Photoreal (GPU)", "neural")]


def build_settings(
    *,
    preset: str = "balanced",
    framing: str = DEFAULT_FRAMING,
    fps: float | str = 25,
    head_motion: float = 1.0,
    blink_rate: float = 1.0,
    expression: float = 1.0,
    seed: float | int | None = 0,
    face_index: int | str | None = 0,
    refine: bool = False,
    transcript: str | None = None,
    max_audio_seconds: float = MAX_AUDIO_SECONDS,
    motion: str | None = None,
    renderer: str | None = None,
) -> GenerationSettings:
    """``GenerationSettings`` from the widgets' values (which arrive as floats, strings or None)."""
    if preset not in PRESETS:
        raise AvatarError(f"Unknown quality preset '{preset}'; use one of {', '.join(PRESETS)}.")
    if framing not in FRAMINGS:
        raise AvatarError(f"Unknown output framing '{framing}'; use one of {', '.join(FRAMINGS)}.")
    try:
        fps_value = float(fps)
    except (TypeError, ValueError):
        raise AvatarError(f"The frame rate must be a number, not '{fps}'.") from None
    seed_value = 0 if seed is None or (isinstance(seed, float) and math.isnan(seed)) else seed
    try:
        seed_int = int(seed_value)
    except (TypeError, ValueError):
        raise AvatarError(f"The seed must be a whole number, not '{seed}'.") from None
    if seed_int != float(seed_value) or not 0 <= seed_int <= MAX_SEED:
        raise AvatarError(f"The seed must be a whole number from 0 to {MAX_SEED}.")
    try:
        face = 0 if face_index in (None, "") else int(face_index)
    except (TypeError, ValueError):
        raise AvatarError(f"The face choice must be a face number, not '{face_index}'.") from None
    if face < 0:
        raise AvatarError("The face number cannot be negative.")
    settings = GenerationSettings(
        fps=fps_value,
        size=FRAMINGS[framing],
        seed=seed_int,
        head_motion=float(head_motion if head_motion is not None else 1.0),
        blink_rate=float(blink_rate if blink_rate is not None else 1.0),
        expression=float(expression if expression is not None else 1.0),
        face_index=face,
        preset=preset,
        transcript=(transcript or "").strip() or None,
        max_audio_seconds=max_audio_seconds,
        **({"motion": motion} if motion else {}),
    )
    if renderer not in (None, "", "warp"):
        if renderer not in dict(RENDERER_CHOICES).values():
            raise AvatarError(f"Unknown renderer '{renderer}'; use warp or neural.")
        status = neural_status()
        if not status.available:
            raise AvatarError(status.reason)
        settings = settings.updated(renderer=renderer)
    if refine:
        status = wav2lip_status()
        if not status.available:
            raise AvatarError(status.reason)
        settings = settings.updated(refine=status.kind)
    return settings
