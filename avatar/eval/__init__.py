"""Evaluation: DESIGN.md's "what good output means", measured on any talking-head video.

``evaluate_video(path)`` tracks the face with MediaPipe FaceMesh (not the engine's own
landmarks) and returns an ``EvalReport`` of lip sync, blinks, head motion, jitter,
background stability and container facts, printable with ``format_table()``.
"""

from __future__ import annotations

from avatar.eval.metrics import (
    EvalReport,
    audio_log_rms,
    detect_blinks,
    evaluate_video,
    lagged_correlation,
    landmark_jitter,
    lipsync_correlation,
    speech_mask,
)
from avatar.eval.tracker import (
    STABLE_IDS,
    EvalError,
    FaceTrack,
    FrameFace,
    audio_offset_s,
    rotation_to_angles,
    track_video,
)

__all__ = [
    "STABLE_IDS",
    "EvalError",
    "EvalReport",
    "FaceTrack",
    "FrameFace",
    "audio_log_rms",
    "audio_offset_s",
    "detect_blinks",
    "evaluate_video",
    "lagged_correlation",
    "landmark_jitter",
    "lipsync_correlation",
    "rotation_to_angles",
    "speech_mask",
    "track_video",
]
