"""The page's events: one method per widget action, over the app's long-lived parts.

``WebApp`` holds what lives as long as the server (the pipeline, the rig
cache, the work folders, the cancel flags, the TTS hook and the feature
status); ``app.py`` lays out the widgets and wires them to these methods.
Gradio is imported here (this module is the app's, not the library's).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import gradio as gr

from avatar.webapp.form import DEFAULT_FRAMING, MAX_SEED, build_settings
from avatar.webapp.jobs import generate_video
from avatar.webapp.limits import MAX_AUDIO_SECONDS
from avatar.webapp.messages import Cancelled, to_gr_error
from avatar.webapp.previews import describe_audio, preview_portrait
from avatar.webapp.progress import CancelFlags, gradio_event_cancelled
from avatar.webapp.rigs import RigCache
from avatar.webapp.startup import WarmUp
from avatar.webapp.status import (
    find_tts,
    motion_status,
    neural_status,
    server_report,
    voice_names,
    wav2lip_status,
)
from avatar.webapp.workdirs import WorkDirs
from pipelines import TalkingPortraitPipeline

log = logging.getLogger("avatar.app")

CANCELLED_SUMMARY = "**Cancelled:** no video was made; press Generate to start again."


class WebApp:
    """Everything the page's events need, created once per server process."""

    def __init__(
        self,
        pipeline: TalkingPortraitPipeline | None = None,
        *,
        rigs: RigCache | None = None,
        workdirs: WorkDirs | None = None,
        warm_up: WarmUp | None = None,
    ) -> None:
        self.pipeline = pipeline or TalkingPortraitPipeline()
        self.rigs = rigs or RigCache()
        #: The models loading in the background (started before gradio was imported).
        self.warm_up = warm_up
        self.workdirs = workdirs or WorkDirs()
        self.cancel_flags = CancelFlags()
        self.tts = find_tts()
        self.voices = voice_names() if self.tts is not None else []
        self.wav2lip = wav2lip_status()
        self.neural = neural_status()  # the photoreal renderer: CUDA and the LivePortrait weights
        self.motion = motion_status()
        #: One line for the Settings: PyTorch's build, the GPU, xformers (``avatar info``).
        self.server_report = server_report()

    # ----------------------------------------------------------------- inputs

    def on_portrait(self, image, face_index=0):
        """Preview the detected face(s) and say what might go wrong."""
        p = preview_portrait(image, face_index, self.rigs)
        face = gr.Dropdown(
            choices=p.face_choices or [("Face 1 (largest)", 0)],
            value=p.face_index if p.face_choices else 0,
            visible=p.several_faces,
        )
        return gr.Image(value=p.image, visible=p.image is not None), p.message, face

    def on_new_portrait(self, image):
        return self.on_portrait(image, 0)

    def on_audio(self, audio):
        return describe_audio(audio, MAX_AUDIO_SECONDS)

    def random_seed(self):
        return random.randint(0, MAX_SEED)

    def preview_speech(self, script, voice=""):
        """The script spoken, for the preview player: (16000, int16 samples)."""
        try:
            speech = self._tts_with(voice)(script or "").speech
        except Exception as exc:  # noqa: BLE001 - every failure is one sentence on the page
            raise to_gr_error(exc, title="Could not speak the script") from None
        return 16000, (speech.samples.clip(-1, 1) * 32767).astype("int16")

    # ----------------------------------------------------------------- generation

    def cancel(self, request: gr.Request):
        """Stop this visitor's render. The summary says so at once: gradio may drop the
        render's own last answer when it cancels the event first."""
        if self.cancel_flags.request(request.session_hash if request else None):
            return CANCELLED_SUMMARY
        return gr.skip()  # nothing was running: leave the page as it is

    def generate(
        self,
        image,
        audio,
        script="",
        preset="balanced",
        framing=DEFAULT_FRAMING,
        fps=25,
        head_motion=1.0,
        blink_rate=1.0,
        expression=1.0,
        seed=0,
        face_index=0,
        refine=False,
        voice="",
        motion=None,
        renderer="warp",
        request: gr.Request = None,
        progress=gr.Progress(),  # noqa: B008 - how gradio injects its progress tracker
    ):
        """Make a talking-head video from a portrait photo and a voice-over."""
        session = request.session_hash if request else None
        self.cancel_flags.start(session)
        try:
            settings = build_settings(
                preset=preset,
                framing=framing,
                fps=fps,
                head_motion=head_motion,
                blink_rate=blink_rate,
                expression=expression,
                seed=seed,
                face_index=face_index,
                refine=refine,
                motion=motion,
                renderer=renderer,
            )
            result = generate_video(
                self.pipeline,
                image,
                audio,
                settings,
                rigs=self.rigs,
                workdirs=self.workdirs,
                script=script,
                tts=self._tts_with(voice),
                progress=progress,
                cancelled=lambda: self.cancel_flags.is_set(session) or gradio_event_cancelled(),
            )
        except Cancelled:
            # Not an error: a notice, and empty outputs (no "Error" badge on the video).
            log.info("generation cancelled (session %s)", session)
            gr.Info("The video was cancelled.", title="Cancelled")
            return None, None, CANCELLED_SUMMARY
        except Exception as exc:  # noqa: BLE001 - every failure is one sentence on the page
            raise to_gr_error(exc) from None
        finally:
            self.cancel_flags.finish(session)
        return str(result.video_path), str(result.plot_path), result.summary

    def generate_example(self, image, audio):
        """The example row: the default settings (gradio caches what this returns)."""
        return self.generate(image, audio)

    def offer_download(self, video):
        """Show the download button once there is a video (from Generate or a cached example)."""
        return gr.DownloadButton(value=video, visible=bool(video))

    def _tts_with(self, voice) -> Callable | None:
        """The TTS hook speaking with ``voice`` (its language then shapes the mouth too)."""
        if self.tts is None or not voice:
            return self.tts
        tts = self.tts
        return lambda text, language=None: tts(text, voice=voice)

    # ----------------------------------------------------------------- lifetime

    def ready(self) -> float:
        """Seconds the background warm-up took, once it is done (0 without one)."""
        return self.warm_up.wait() if self.warm_up is not None else 0.0

    def close(self) -> None:
        self.workdirs.cleanup_all()
