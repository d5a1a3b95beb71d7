"""Video stage: stream-encode frames + voice-over into an H.264/AAC mp4, and probe mp4s."""

from __future__ import annotations

from avatar.video.probe import ContainerInfo, probe_video
from avatar.video.writer import AI_GENERATED_TAGS, EncoderError, VideoWriter

__all__ = ["AI_GENERATED_TAGS", "ContainerInfo", "EncoderError", "VideoWriter", "probe_video"]
