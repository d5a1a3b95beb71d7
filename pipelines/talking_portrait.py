"""TalkingPortraitPipeline: portrait + voice-over -> talking-head mp4.

Stages run one way (face -> audio -> speech -> motion -> render -> video),
each returning a typed result; frames are rendered and streamed into the
encoder one at a time, so memory stays flat however long the audio is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.audio import load_voiceover
from avatar.audio.features import compute_features
from avatar.audio.speech import Speech
from avatar.face import FaceRig, analyze_portrait
from avatar.motion import Motion, MotionControls
from avatar.motion.engines import engine_notice, motion_generator
from avatar.motion.mouth import mouth_curves
from avatar.render import WarpRenderer
from avatar.settings import GenerationSettings
from avatar.speech import VisemeTrack, recognize_phones
from avatar.video import VideoWriter

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]
"""Called as ``progress(stage, fraction)`` with fraction in [0, 1] for the stage."""

STAGES = ("face", "audio", "speech", "motion", "render")
STAGE_LABELS = {
    "face": "Finding the face",
    "audio": "Reading the voice-over",
    "speech": "Recognising speech sounds",
    "motion": "Planning the motion",
    "render": "Rendering and encoding",
    "refine": "Loading the lip-sync model",
}
SILENCE_DBFS = -60.0


def stages_for(settings: GenerationSettings | None = None) -> tuple[str, ...]:
    """The stages a run with ``settings`` reports, in order ("refine" only when used)."""
    if settings is not None and settings.refine:
        return (*STAGES[:-1], "refine", STAGES[-1])
    return STAGES


def rendered_frames(renderer, values: np.ndarray):
    """(frame, landmarks) per Motion row; batched through ``render_batch`` when there is one."""
    batch = getattr(renderer, "render_batch", None)
    if batch is None:
        for row in values:
            frame = renderer.render(row)
            yield frame, getattr(renderer, "last_landmarks", None)
        return
    step = max(1, int(getattr(renderer, "batch", 8)))
    for i in range(0, len(values), step):
        frames = batch(values[i : i + step])
        landmarks = getattr(renderer, "landmarks_batch", None) or [None] * len(frames)
        yield from zip(frames, landmarks)


@dataclass
class TalkingPortraitOutput:
    video_path: Path
    motion: Motion
    timings: dict[str, float]
    notices: list[str] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    n_frames: int = 0
    fps: float = 25.0
    audio_duration: float = 0.0


class TalkingPortraitPipeline:
    """Components are chosen once; ``__call__`` makes one video.

    ``renderer_cls`` builds a renderer from a ``FaceRig``; None picks the one
    named by ``settings.renderer`` (``WarpRenderer`` on CPU, or the neural
    ``NeuralRenderer``, whose networks are loaded once per pipeline).
    ``motion_generator`` maps audio features and mouth curves to ``Motion``;
    None picks the engine named by ``settings.motion`` (the diffusion model
    when its weights are present, else the procedural rules).
    """

    def __init__(
        self,
        *,
        renderer_cls: type | None = None,
        motion_generator: Callable[..., Motion] | None = None,
    ) -> None:
        self.renderer_cls = renderer_cls
        self._liveportrait: dict[str, object] = {}  # weights folder -> loaded networks
        self.motion_generator = motion_generator

    def analyze_portrait(self, image, settings: GenerationSettings | None = None) -> FaceRig:
        s = settings or GenerationSettings()
        return analyze_portrait(image, face_index=s.face_index)

    def make_renderer(self, rig: FaceRig, s: GenerationSettings, weights_dir=None):
        """The renderer for one video: the injected class, else the one ``s.renderer`` names."""
        if self.renderer_cls is not None:
            return self.renderer_cls(rig, size=s.size, grid_max=s.grid)
        if s.renderer == "neural":
            from avatar.render.neural_renderer import NeuralRenderer, liveportrait_dir

            folder = weights_dir or liveportrait_dir(s.liveportrait_dir)
            key = str(folder)
            if key not in self._liveportrait:
                from avatar.render.liveportrait import load_liveportrait

                self._liveportrait = {key: load_liveportrait(folder)}  # one set (520 MB) kept
            models = self._liveportrait[key]
            return NeuralRenderer(rig, size=s.size, grid_max=s.grid, models=models)
        return WarpRenderer(rig, size=s.size, grid_max=s.grid)

    def __call__(
        self,
        image,
        audio: str | Path | Speech,
        settings: GenerationSettings | None = None,
        *,
        output: str | Path,
        progress: ProgressCallback | None = None,
        rig: FaceRig | None = None,
        phones: VisemeTrack | None = None,
    ) -> TalkingPortraitOutput:
        s = settings or GenerationSettings()
        report = progress or (lambda stage, fraction: None)
        timings: dict[str, float] = {}
        notices: list[str] = []
        t_all = time.perf_counter()
        if s.refine:  # missing weights or PyTorch: say so before any work is done
            from avatar.refine import checkpoint_path, require_torch

            require_torch()
            checkpoint_path(s.refine, s.wav2lip_checkpoint)
        weights_dir = None
        if self.renderer_cls is None and s.renderer == "neural":  # likewise for its weights
            from avatar.render.neural_renderer import liveportrait_dir

            weights_dir = liveportrait_dir(s.liveportrait_dir)

        def stage(name: str):
            report(name, 0.0)
            return time.perf_counter()

        t = stage("face")
        rig = rig if rig is not None else self.analyze_portrait(image, s)
        notices += rig.notices
        timings["face"] = time.perf_counter() - t
        report("face", 1.0)

        t = stage("audio")
        speech = load_voiceover(audio, max_seconds=s.max_audio_seconds)
        n_frames = speech.n_frames(s.fps)
        features = compute_features(speech, s.fps, n_frames)
        if float(np.max(features.rms_db)) < SILENCE_DBFS:
            notices.append("The voice-over is silent: the video shows a still face that blinks.")
        timings["audio"] = time.perf_counter() - t
        report("audio", 1.0)

        t = stage("speech")
        # Known timings (a TTS reports them) need no recognition.
        track = phones or recognize_phones(speech, transcript=s.transcript, language=s.language)
        timings["speech"] = time.perf_counter() - t
        report("speech", 1.0)

        t = stage("motion")
        mouth = mouth_curves(track, features, s.fps, n_frames, language=s.language)
        controls = MotionControls(
            head_motion=s.head_motion, blink_rate=s.blink_rate, expression=s.expression, seed=s.seed
        )
        generate = self.motion_generator or motion_generator(s.motion)
        if self.motion_generator is None and (note := engine_notice(s.motion, s.motion_defaulted)):
            notices.append(note)
        motion = generate(features, mouth, controls)
        motion.meta["phone_source"] = track.source
        timings["motion"] = time.perf_counter() - t
        report("motion", 1.0)

        refiner = None
        if s.wav2lip_boxes != "landmarks" and not s.refine:
            notices.append(
                f"--wav2lip-boxes {s.wav2lip_boxes} chooses the Wav2Lip pass's crop; without "
                "--refine there is no such pass, so it changes nothing."
            )
        if s.refine:
            t = stage("refine")
            from avatar.refine import create_refiner

            refiner = create_refiner(
                s.refine,
                speech.samples,
                s.fps,
                checkpoint=s.wav2lip_checkpoint,
                face_boxes=s.wav2lip_boxes,
            )
            timings["refine_load"] = time.perf_counter() - t
            report("refine", 1.0)

        t = stage("render")
        renderer = self.make_renderer(rig, s, weights_dir)
        notices += getattr(renderer, "notices", [])
        frames = rendered_frames(renderer, motion.values)
        metadata = {"title": "Talking portrait", "seed": str(s.seed)}
        render_time = refine_time = 0.0
        step = max(1, n_frames // 50)
        label = None
        if s.label:
            from avatar.video.label import Label

            label = Label(*renderer.output_size, position=s.label_position, size=s.label_size)
        with VideoWriter(
            output,
            fps=s.fps,
            size=renderer.output_size,
            audio=speech,
            crf=s.video_crf,
            preset=s.x264_preset,
            metadata=metadata,
            overwrite=s.overwrite,
        ) as writer:
            for i in range(n_frames):
                r0 = time.perf_counter()
                frame, landmarks = next(frames)
                if label is not None and refiner is None:
                    frame = label.apply(frame)
                render_time += time.perf_counter() - r0
                if refiner is None:
                    writer.write(frame)
                else:
                    r0 = time.perf_counter()
                    for out in refiner.push(frame, landmarks):
                        writer.write(out if label is None else label.apply(out))
                    refine_time += time.perf_counter() - r0
                if i % step == 0:
                    report("render", i / n_frames)
            if refiner is not None:
                r0 = time.perf_counter()
                for out in refiner.flush():
                    writer.write(out if label is None else label.apply(out))
                refine_time += time.perf_counter() - r0
        timings["render"] = render_time
        if refiner is not None:
            timings["refine"] = refine_time
            if refiner.stats.refined == 0:
                notices.append("The lip-sync refinement found no face to refine in any frame.")
        timings["encode_wait"] = time.perf_counter() - t - render_time - refine_time
        timings["total"] = time.perf_counter() - t_all
        report("render", 1.0)
        return TalkingPortraitOutput(
            video_path=writer.path,
            motion=motion,
            timings=timings,
            notices=notices,
            size=renderer.output_size,
            n_frames=n_frames,
            fps=s.fps,
            audio_duration=speech.duration,
        )
