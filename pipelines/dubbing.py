"""DubbingPipeline: an existing video + a new voice-over -> the video with the mouth re-synced.

The video is decoded frame by frame, its face tracked with our own face stage
(MediaPipe), and every frame runs through the Wav2Lip refinement pass and
straight into the encoder, so memory stays flat. Frames without a face pass
through untouched. The output is as long as the voice-over: a shorter video
is looped forward (as the reference does), a longer one is cut.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.audio import load_voiceover
from avatar.audio.speech import Speech
from avatar.errors import AvatarError
from avatar.settings import GenerationSettings
from avatar.video import VideoWriter
from pipelines.talking_portrait import ProgressCallback

DUB_STAGES = ("audio", "refine", "dub")
DUB_STAGE_LABELS = {
    "audio": "Reading the voice-over",
    "refine": "Loading the lip-sync model",
    "dub": "Tracking the face and re-syncing",
}


@dataclass
class DubbingOutput:
    video_path: Path
    timings: dict[str, float]
    notices: list[str] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    n_frames: int = 0
    fps: float = 25.0
    audio_duration: float = 0.0
    refined_frames: int = 0


class DubbingPipeline:
    """``__call__(video, audio, settings, output=...)`` writes the dubbed mp4."""

    def __call__(
        self,
        video: str | Path,
        audio: str | Path | Speech,
        settings: GenerationSettings | None = None,
        *,
        output: str | Path,
        progress: ProgressCallback | None = None,
    ) -> DubbingOutput:
        from avatar.refine import checkpoint_path, create_refiner, require_torch
        from avatar.refine.faces import VideoFaceTracker
        from avatar.video.reader import iter_frames, video_fps

        s = settings or GenerationSettings()
        kind = s.refine or "wav2lip"
        report = progress or (lambda stage, fraction: None)
        timings: dict[str, float] = {}
        notices: list[str] = []
        t_all = time.perf_counter()
        require_torch()
        checkpoint_path(kind, s.wav2lip_checkpoint)  # missing weights: fail before any work
        fps = video_fps(video)
        if not 1 <= fps <= 120:
            raise AvatarError(f"The video's frame rate ({fps:.3g} fps) is not usable.")

        report("audio", 0.0)
        t = time.perf_counter()
        speech = load_voiceover(audio, max_seconds=s.max_audio_seconds)
        n_frames = speech.n_frames(fps)
        timings["audio"] = time.perf_counter() - t
        report("audio", 1.0)

        report("refine", 0.0)
        t = time.perf_counter()
        refiner = create_refiner(
            kind,
            speech.samples,
            fps,
            checkpoint=s.wav2lip_checkpoint,
            face_boxes=s.wav2lip_boxes,
        )
        timings["refine_load"] = time.perf_counter() - t
        report("refine", 1.0)

        report("dub", 0.0)
        t = time.perf_counter()
        tracker = VideoFaceTracker(face_index=s.face_index)
        frames = iter_frames(video, loop=True)
        first = next(frames)
        h, w = first.shape[:2]
        track_time = 0.0
        step = max(1, n_frames // 50)
        label = None
        if s.label:
            from avatar.video.label import Label

            label = Label(w - w % 2, h - h % 2, position=s.label_position, size=s.label_size)

        def finish(out: np.ndarray) -> np.ndarray:
            return out if label is None else label.apply(out)

        with VideoWriter(
            output,
            fps=fps,
            size=(w, h),
            audio=speech,
            crf=s.video_crf,
            preset=s.x264_preset,
            metadata={"title": "Dubbed video", "seed": str(s.seed)},
            overwrite=s.overwrite,
        ) as writer:
            frame = first
            for i in range(n_frames):
                if i > 0:
                    frame = next(frames)
                if frame.shape[:2] != (h, w):  # a size change mid-stream: keep the first size
                    frame = _fit(frame, w, h)
                t0 = time.perf_counter()
                landmarks = tracker(frame)
                track_time += time.perf_counter() - t0
                for out in refiner.push(frame, landmarks):
                    writer.write(finish(out))
                if i % step == 0:
                    report("dub", i / n_frames)
            for out in refiner.flush():
                writer.write(finish(out))
        frames.close()
        stats = refiner.stats
        if stats.passed_through:
            notices.append(
                f"{stats.passed_through} of {stats.frames} frames had no face and were left "
                "unchanged."
            )
        timings["track"] = track_time
        timings["refine"] = stats.total_seconds
        timings["dub"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_all
        report("dub", 1.0)
        return DubbingOutput(
            video_path=writer.path,
            timings=timings,
            notices=notices,
            size=(w - w % 2, h - h % 2),
            n_frames=n_frames,
            fps=fps,
            audio_duration=speech.duration,
            refined_frames=stats.refined,
        )


def _fit(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
