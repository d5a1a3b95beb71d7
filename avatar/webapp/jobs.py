"""One request from the page: inputs in its own folder, the pipeline run, the page's outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avatar.audio import Speech, load_audio
from avatar.errors import AudioError, AvatarError, ImageError
from avatar.settings import GenerationSettings
from avatar.webapp.messages import for_web
from avatar.webapp.plots import envelope_of, motion_figure, save_motion_plot
from avatar.webapp.previews import format_duration
from avatar.webapp.progress import ProgressReporter
from avatar.webapp.rigs import RigCache
from avatar.webapp.workdirs import WorkDirs, output_name
from pipelines import TalkingPortraitPipeline, stages_for


@dataclass
class GenerationResult:
    """The page's outputs for one request (all files live in the request's folder)."""

    video_path: Path
    plot_path: Path  # the motion plot as a PNG
    summary: str
    notices: list[str]
    duration: float
    size: tuple[int, int]


def generate_video(
    pipeline: TalkingPortraitPipeline,
    image: str | Path | None,
    audio: str | Path | None,
    settings: GenerationSettings,
    *,
    rigs: RigCache,
    workdirs: WorkDirs,
    script: str | None = None,
    tts: Callable | None = None,
    progress: Callable | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> GenerationResult:
    """Run ``pipeline`` for one request in its own folder and make the page's outputs.

    The rig comes from ``rigs`` (usually already analysed for the preview) and
    the voice-over is decoded once here, so the motion plot can show its
    envelope; both are handed to the pipeline, which does the rest. With no
    voice-over, ``tts(script, language=...)`` speaks the script and its exact
    phone timings shape the mouth.
    """
    if not image:
        raise ImageError(
            "Add a portrait photo first: upload one, take one with the webcam, or pick an example."
        )
    script = (script or "").strip()
    if not audio and not (script and tts is not None):
        raise AudioError("Add a voice-over first: upload a file or record one with the microphone.")
    report = ProgressReporter(progress, cancelled, stages=tuple(stages_for(settings)))
    job = workdirs.new()
    try:
        report("face", 0.0)
        rig = rigs.get(image, settings.face_index)
        report("face", 1.0)
        report("audio", 0.0)
        phones = None
        if audio:
            speech = load_audio(audio, max_seconds=settings.max_audio_seconds)
        else:
            speech, phones = _synthesize(tts, script, settings)
            settings = settings.updated(transcript=settings.transcript or script)
        out = pipeline(
            image,
            speech,
            settings,
            output=job / output_name(image),
            progress=report,
            rig=rig,
            **({"phones": phones} if phones is not None else {}),
        )
        envelope = envelope_of(speech, out.fps, out.n_frames)
        plot = save_motion_plot(motion_figure(out.motion, envelope), job / "motion.png")
        notices = [for_web(n) for n in out.notices if "faces; animating face" not in n]
        w, h = out.size
        summary = (
            f"**Done:** {w}×{h}, {out.n_frames} frames at {out.fps:g} fps, "
            f"{format_duration(out.audio_duration)}, made in {out.timings.get('total', 0.0):.1f} s."
        )
        if notices:
            summary += "\n\n" + "\n".join(f"- {n}" for n in notices)
        return GenerationResult(
            video_path=Path(out.video_path),
            plot_path=plot,
            summary=summary,
            notices=notices,
            duration=out.audio_duration,
            size=out.size,
        )
    except BaseException:
        workdirs.discard(job)
        raise


def _synthesize(tts: Callable, script: str, settings: GenerationSettings):
    """(Speech, phone timings or None) for ``script``, from the TTS hook.

    The hook returns a ``TTSResult`` (speech with exact timings) or plain ``Speech``.
    """
    try:
        result = tts(script, language=settings.language)
    except AvatarError:
        raise
    except Exception as exc:  # noqa: BLE001 - any TTS failure is one sentence
        raise AudioError("The script could not be turned into speech.") from exc
    if isinstance(result, Speech):
        return result, None
    speech, phones = result
    return speech, phones
