"""Read what is inside a video file: codecs, sizes, exact stream durations, tags.

Used to check the container contract of DESIGN.md (H.264 yuv420p + AAC,
duration equal to the audio's within one frame, AI-generated tags) on the
files we write, and to describe input videos. It uses PyAV, which reads the
container headers without decoding; when a header lacks a stream's duration
or frame count, the packets are scanned (demuxed, not decoded) instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from avatar.errors import AvatarError


@dataclass
class ContainerInfo:
    """One video file's streams, as the container describes them (durations in seconds)."""

    video_codec: str | None
    pixel_format: str | None
    width: int | None
    height: int | None
    fps: float
    n_frames: int | None
    video_duration: float | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_duration: float | None
    duration: float | None
    metadata: dict[str, str] = field(default_factory=dict)
    format_name: str | None = None
    audio_channels: int | None = None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def probe_video(path: str | os.PathLike[str]) -> ContainerInfo:
    """Describe the first video and first audio stream of ``path``.

    ``video_duration`` and ``audio_duration`` are the presented durations of
    the streams (for mp4: the edit-list durations, so AAC priming does not
    count); ``duration`` is the container's. Raises ``AvatarError`` with one
    sentence if the file is missing or not a media file.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise AvatarError(f"The video file '{path}' does not exist.")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AvatarError(f"The file '{path.name}' is not a video file that can be read.") from exc
    try:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None

        video_duration = _stream_duration(video)
        audio_duration = _stream_duration(audio)
        n_frames = int(video.frames) if video is not None and video.frames else None
        fps = float(video.average_rate or video.base_rate or 0) if video is not None else 0.0

        # mp4/mov headers hold exact durations and frame counts; other containers'
        # header values are estimates (MPEG-PS) or missing (Matroska), so count packets.
        exact_header = container.format.name.startswith("mov,mp4")
        needs_scan = not exact_header or (
            (video is not None and (n_frames is None or video_duration is None))
            or (audio is not None and audio_duration is None)
        )
        if needs_scan:
            scanned = _scan_packets(container, [s for s in (video, audio) if s is not None])
            if video is not None:
                count, span = scanned[video.index]
                n_frames = n_frames if exact_header and n_frames else (count or n_frames)
                if not exact_header or video_duration is None:
                    video_duration = span if span is not None else video_duration
            if audio is not None and (not exact_header or audio_duration is None):
                span = scanned[audio.index][1]
                audio_duration = span if span is not None else audio_duration

        duration = container.duration / 1_000_000 if container.duration else None
        if duration is None:
            known = [d for d in (video_duration, audio_duration) if d is not None]
            duration = max(known) if known else None

        vctx = video.codec_context if video is not None else None
        actx = audio.codec_context if audio is not None else None
        return ContainerInfo(
            video_codec=vctx.name if vctx is not None else None,
            pixel_format=(vctx.format.name if vctx is not None and vctx.format else None),
            width=vctx.width if vctx is not None else None,
            height=vctx.height if vctx is not None else None,
            fps=fps,
            n_frames=n_frames,
            video_duration=video_duration,
            audio_codec=actx.name if actx is not None else None,
            audio_sample_rate=actx.sample_rate if actx is not None else None,
            audio_duration=audio_duration,
            duration=duration,
            metadata={str(k): str(v) for k, v in container.metadata.items()},
            format_name=container.format.name,
            audio_channels=actx.channels if actx is not None else None,
        )
    finally:
        container.close()


def _stream_duration(stream) -> float | None:
    if stream is None or not stream.duration or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _scan_packets(container, streams) -> dict[int, tuple[int, float | None]]:
    """Per stream: (packet count, presented span in seconds) from timestamps alone."""
    stats: dict[int, list] = {s.index: [0, None, None] for s in streams}  # count, first, end
    for packet in container.demux(streams):
        if packet.size == 0 or packet.pts is None:
            continue
        entry = stats[packet.stream.index]
        entry[0] += 1
        start = packet.pts
        end = packet.pts + (packet.duration or 0)
        entry[1] = start if entry[1] is None else min(entry[1], start)
        entry[2] = end if entry[2] is None else max(entry[2], end)
    result: dict[int, tuple[int, float | None]] = {}
    for stream in streams:
        count, first, end = stats[stream.index]
        if first is None or stream.time_base is None:
            result[stream.index] = (count, None)
            continue
        # Priming samples carry timestamps before the stream's start: they are not presented.
        origin = first if stream.start_time is None else max(first, stream.start_time)
        result[stream.index] = (count, float((end - origin) * stream.time_base))
    return result
