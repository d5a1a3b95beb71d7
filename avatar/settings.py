"""User-facing generation knobs, in one place, with presets.

The CLI, the Python API and the web app all build a ``GenerationSettings``;
nothing else carries user options through the pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

__all__ = ["PRESETS", "GenerationSettings"]

PRESETS: dict[str, dict] = {
    # x264 preset and mesh grid picked by measurement (benchmarks/bench_pipeline.py).
    "fast": {"crf": 23, "x264_preset": "ultrafast", "grid": 192},
    "balanced": {"crf": 20, "x264_preset": "veryfast", "grid": 256},
    "quality": {"crf": 17, "x264_preset": "medium", "grid": 384},
}


def _default_motion() -> str:
    from avatar.motion.engines import default_engine

    return default_engine()


@dataclass
class GenerationSettings:
    """Everything a user can set about one video."""

    fps: float = 25.0
    size: int | None = None  # None: the full photo at native resolution; N: an N×N face crop
    seed: int = 0
    head_motion: float = 1.0
    blink_rate: float = 1.0
    expression: float = 1.0
    face_index: int = 0
    language: str = "en"
    transcript: str | None = None
    # None: "diffusion" when it can run, else "procedural" (announced as a fallback)
    motion: str | None = None
    renderer: str = "warp"  # "warp" (CPU mesh warp) or "neural" (LivePortrait networks, GPU)
    liveportrait_dir: str | None = None  # a folder laid out like the LivePortrait HF repo
    preset: str = "balanced"
    crf: int | None = None  # None: from the preset
    max_audio_seconds: float = 600.0
    overwrite: bool = True
    refine: str | None = None  # None, "wav2lip" or "wav2lip_gan": the Wav2Lip mouth pass
    wav2lip_checkpoint: str | None = None  # a local Wav2Lip file instead of the download
    #: the Wav2Lip crop: "landmarks" (ours) or "sfd" (face-alignment's S3FD, as trained)
    wav2lip_boxes: str = "landmarks"
    label: bool = False  # a visible "AI-generated" label (the metadata always says so)
    label_position: str = "bottom-right"  # top-left, top-right, bottom-left, bottom-right
    label_size: float = 0.05  # text height as a fraction of the frame height
    #: True when ``motion`` was left to the default (so a procedural fallback is announced).
    motion_defaulted: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from avatar.errors import AvatarError

        if self.preset not in PRESETS:
            raise AvatarError(
                f"Unknown quality preset '{self.preset}'; use one of {', '.join(PRESETS)}."
            )
        if not 1 <= self.fps <= 60:
            raise AvatarError(f"The frame rate must be between 1 and 60 fps, not {self.fps}.")
        if self.size is not None and not (64 <= self.size <= 2048 and self.size % 2 == 0):
            raise AvatarError("The output size must be an even number of pixels from 64 to 2048.")
        for knob in ("head_motion", "blink_rate", "expression"):
            value = getattr(self, knob)
            if not 0 <= value <= 3:
                raise AvatarError(f"{knob.replace('_', ' ')} must be between 0 and 3, not {value}.")
        from avatar.motion.engines import ENGINES

        if self.motion is None:
            self.motion = _default_motion()
            self.motion_defaulted = True
        if self.motion not in ENGINES:
            raise AvatarError(
                f"Unknown motion engine '{self.motion}'; available: {', '.join(ENGINES)}."
            )
        if self.liveportrait_dir is not None:
            self.renderer = "neural"  # a weights folder given is the neural renderer asked for
        if self.renderer not in ("warp", "neural"):
            raise AvatarError(f"Unknown renderer '{self.renderer}'; available: warp, neural.")
        if self.max_audio_seconds <= 0:
            raise AvatarError("The maximum audio length must be positive.")
        if self.wav2lip_checkpoint is not None and self.refine is None:
            self.refine = "wav2lip"  # a checkpoint given is a refinement asked for
        if self.refine is not None and self.refine not in ("wav2lip", "wav2lip_gan"):
            raise AvatarError(
                f"Unknown refinement '{self.refine}'; available: wav2lip, wav2lip_gan."
            )
        if self.wav2lip_boxes not in ("landmarks", "sfd"):
            raise AvatarError(
                f"Unknown Wav2Lip face boxes '{self.wav2lip_boxes}'; available: landmarks, sfd."
            )

        from avatar.video.label import POSITIONS

        if self.label_position not in POSITIONS:
            raise AvatarError(
                f"Unknown label position '{self.label_position}'; use one of {', '.join(POSITIONS)}."
            )
        if not 0.01 <= self.label_size <= 0.5:
            raise AvatarError("The label size must be between 0.01 and 0.5 of the frame height.")

    @property
    def x264_preset(self) -> str:
        return PRESETS[self.preset]["x264_preset"]

    @property
    def video_crf(self) -> int:
        return self.crf if self.crf is not None else PRESETS[self.preset]["crf"]

    @property
    def grid(self) -> int:
        return PRESETS[self.preset]["grid"]

    def to_dict(self) -> dict:
        return asdict(self)

    def updated(self, **changes) -> GenerationSettings:
        known = {f.name for f in fields(self)}
        kept = {k: v for k, v in changes.items() if k in known and v is not None}
        if "motion" in kept:  # an engine named now is a choice, not the default
            kept.setdefault("motion_defaulted", False)
        return replace(self, **kept)
