"""End-to-end pipelines composed from the stages in ``avatar``."""

from pipelines.talking_portrait import (
    STAGE_LABELS,
    STAGES,
    TalkingPortraitOutput,
    TalkingPortraitPipeline,
    stages_for,
)

__all__ = [
    "STAGES",
    "STAGE_LABELS",
    "TalkingPortraitOutput",
    "TalkingPortraitPipeline",
    "stages_for",
]
