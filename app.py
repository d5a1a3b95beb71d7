"""Talking portrait web app: upload a portrait and a voice-over, get a talking-head video.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--concurrency N]

A thin Gradio 6 layer: widgets and events only. Settings, the face preview,
the motion plot, temp folders and error messages live in avatar/app_support.py;
the video is made by the same TalkingPortraitPipeline the CLI uses.
"""

import os
import time

_T0 = time.perf_counter()
# Before gradio is imported: no analytics, no version check, no hub telemetry, no GUI backend.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GLOG_minloglevel", "2")

import argparse  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

try:  # Hugging Face ZeroGPU Spaces; a no-op everywhere else
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=180)
except ImportError:
    spaces = None

    def gpu(fn):
        return fn


from avatar import app_support as S  # noqa: E402
from avatar.face.image import use_own_pixel_limits  # noqa: E402
from avatar.motion.engines import default_engine, diffusion_unavailable  # noqa: E402
from pipelines import TalkingPortraitPipeline  # noqa: E402

# One pipeline and one rig cache for every request; the models load in the
# background while gradio is imported, so the first request is fast.
PIPELINE = TalkingPortraitPipeline()
RIGS = S.RigCache()
WARM_UP = S.WarmUp(RIGS) if __name__ == "__main__" else None

import gradio as gr  # noqa: E402

log = logging.getLogger("avatar.app")

WORK = S.WorkDirs()
CANCEL = S.CancelFlags()
TTS = S.find_tts()
if TTS is not None:
    from avatar.speech.tts import list_voices  # noqa: E402

    VOICES = [v.name for v in list_voices()]
else:
    VOICES = []
WAV2LIP = S.wav2lip_status()
NEURAL = S.neural_status()  # the photoreal renderer: CUDA and the LivePortrait weights
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(WORK.root / "examples-cache"))

CSS = """
#title h1 { margin-bottom: 0.2em; }
#face-info p, #audio-info p { margin: 0.15em 0; }
#generate-row { align-items: stretch; }
"""
THEME = gr.themes.Default(primary_hue="orange", secondary_hue="slate")


# --------------------------------------------------------------------------- events


def on_portrait(image, face_index=0):
    """Preview the detected face(s) and say what might go wrong."""
    p = S.preview_portrait(image, face_index, RIGS)
    face = gr.Dropdown(
        choices=p.face_choices or [("Face 1 (largest)", 0)],
        value=p.face_index if p.face_choices else 0,
        visible=p.several_faces,
    )
    return gr.Image(value=p.image, visible=p.image is not None), p.message, face


def on_new_portrait(image):
    return on_portrait(image, 0)


def on_audio(audio):
    return S.describe_audio(audio, S.MAX_AUDIO_SECONDS)


def random_seed():
    return random.randint(0, S.MAX_SEED)


def cancel(request: gr.Request):
    CANCEL.request(request.session_hash if request else None)


@gpu
def generate(
    image,
    audio,
    script="",
    preset="balanced",
    framing=S.DEFAULT_FRAMING,
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
    CANCEL.clear(session)
    try:
        settings = S.build_settings(
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
        result = S.generate_video(
            PIPELINE,
            image,
            audio,
            settings,
            rigs=RIGS,
            workdirs=WORK,
            script=script,
            tts=_tts_with(voice),
            progress=progress,
            cancelled=lambda: CANCEL.is_set(session) or S.gradio_event_cancelled(),
        )
    except S.Cancelled:
        log.info("generation cancelled (session %s)", session)
        raise gr.Error(
            "The video was cancelled.", title="Cancelled", print_exception=False
        ) from None
    except Exception as exc:
        raise S.to_gr_error(exc) from None
    return str(result.video_path), result.figure, result.summary


def _tts_with(voice):
    """The TTS hook speaking with ``voice`` (its language then shapes the mouth too)."""
    if TTS is None or not voice:
        return TTS
    return lambda text, language=None: TTS(text, voice=voice)


def preview_speech(script, voice=""):
    """The script spoken, for the preview player: (16000, int16 samples)."""
    try:
        speech = _tts_with(voice)(script or "").speech
    except Exception as exc:
        raise S.to_gr_error(exc) from None
    return 16000, (speech.samples.clip(-1, 1) * 32767).astype("int16")


def offer_download(video):
    """Show the download button once there is a video (from Generate or a cached example)."""
    return gr.DownloadButton(value=video, visible=bool(video))


def generate_example(image, audio):
    return generate(image, audio)


# --------------------------------------------------------------------------- layout


def build_demo() -> gr.Blocks:
    # gradio opens uploads with PIL too: one pixel policy for every thread of the app
    use_own_pixel_limits()
    with gr.Blocks(title="Talking portrait", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# Talking portrait\n"
            "One portrait photo and a voice-over become a talking-head video: lips, blinks "
            "and head motion follow the voice. Everything runs on this server; nothing is "
            "sent anywhere else.",
            elem_id="title",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    image = gr.Image(
                        label="Portrait",
                        type="filepath",
                        image_mode=None,
                        sources=["upload", "webcam", "clipboard"],
                        height=300,
                        elem_id="portrait",
                    )
                    S.guard_preprocess(image, S.IMAGE_UNREADABLE)
                    preview = gr.Image(
                        label="Detected face",
                        interactive=False,
                        height=300,
                        visible=False,
                        format="jpeg",
                        elem_id="face-preview",
                    )
                face_info = gr.Markdown(elem_id="face-info")
                face = gr.Dropdown(
                    label="Face to animate",
                    info="The numbers match the boxes in the preview; 1 is the largest face.",
                    choices=[("Face 1 (largest)", 0)],
                    value=0,
                    visible=False,
                    elem_id="face-choice",
                )
                if TTS is not None:
                    with gr.Tabs():
                        with gr.Tab("Voice-over"):
                            audio = _audio_input()
                        with gr.Tab("Type a script"):
                            script = gr.Textbox(
                                value="",
                                label="Script",
                                lines=4,
                                placeholder="Type what the portrait should say…",
                                info="Used when no voice-over is given above.",
                            )
                            voice = gr.Dropdown(
                                choices=VOICES,
                                value="en-us" if "en-us" in VOICES else None,
                                label="Voice (espeak-ng; its language shapes the mouth)",
                                elem_id="voice",
                            )
                            say = gr.Button("Preview speech", size="sm")
                            heard = gr.Audio(label="Speech preview", interactive=False)
                else:
                    audio = _audio_input()
                    script = gr.Textbox(value="", visible=False)
                    voice = gr.Textbox(value="", visible=False)
                    say = heard = None
                audio_info = gr.Markdown(elem_id="audio-info")

                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    with gr.Row():
                        preset = gr.Radio(
                            S.PRESET_CHOICES,
                            value="balanced",
                            label="Quality",
                            info="Fast encodes quickest; Quality makes the smallest, sharpest file.",
                        )
                        framing = gr.Radio(
                            list(S.FRAMINGS),
                            value=S.DEFAULT_FRAMING,
                            label="Framing",
                            info="A square crop around the face, or the whole photo.",
                        )
                    head_motion = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Head motion", info="0 still, 1 natural"
                    )
                    blink_rate = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Blink rate", info="0 none, 1 natural"
                    )
                    expression = gr.Slider(
                        0, 3, value=1.0, step=0.1, label="Expression", info="brows and smile"
                    )
                    with gr.Row(equal_height=False):
                        fps = gr.Radio(S.FPS_CHOICES, value=25, label="Frames per second")
                        with gr.Column(min_width=200):
                            seed = gr.Number(
                                value=0,
                                label="Seed",
                                precision=0,
                                minimum=0,
                                maximum=S.MAX_SEED,
                                info="Same seed, same head motion and blinks.",
                            )
                            dice = gr.Button("Random seed", size="sm", elem_id="dice")
                    motion = gr.Radio(
                        ["diffusion", "procedural"],
                        value=default_engine(),
                        label="Motion engine",
                        info=diffusion_unavailable()
                        or "diffusion: the trained model; procedural: hand-made rules.",
                        interactive=diffusion_unavailable() is None,
                    )
                    renderer = gr.Radio(
                        S.RENDERER_CHOICES,
                        value="warp",
                        label="Renderer",
                        info=NEURAL.reason,
                        interactive=NEURAL.available,
                        elem_id="renderer",
                    )
                    refine = gr.Checkbox(
                        value=False,
                        label="Wav2Lip lip refinement",
                        info=WAV2LIP.reason,
                        interactive=WAV2LIP.available,
                    )
                with gr.Row(elem_id="generate-row"):
                    go = gr.Button("Generate video", variant="primary", scale=3, elem_id="generate")
                    stop = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel")

            with gr.Column(scale=5):
                video = gr.Video(
                    label="Talking portrait",
                    format="mp4",
                    interactive=False,
                    height=420,
                    elem_id="result-video",
                )
                download = gr.DownloadButton(
                    "Download MP4", visible=False, variant="secondary", elem_id="download"
                )
                summary = gr.Markdown(label="Summary", elem_id="summary")
                plot = gr.Plot(
                    label="Motion", show_label=False, format="png", elem_id="motion-plot"
                )

        outputs = [video, plot, summary]
        examples = S.example_files()
        if examples:
            gr.Examples(
                examples,
                inputs=[image, audio],
                outputs=outputs,
                fn=generate_example,
                cache_examples=True,
                cache_mode="lazy",
                label="Example (made on first click, then cached)",
            )

        private = {"api_visibility": "private", "queue": False}
        image.change(
            on_new_portrait,
            image,
            [preview, face_info, face],
            api_visibility="undocumented",
            concurrency_id="preview",
            concurrency_limit=2,
            show_progress="minimal",
        )
        face.input(
            on_portrait,
            [image, face],
            [preview, face_info, face],
            api_visibility="private",
            concurrency_id="preview",
            concurrency_limit=2,
            show_progress="minimal",
        )
        audio.change(on_audio, audio, audio_info, api_visibility="private", concurrency_limit=2)
        dice.click(random_seed, None, seed, **private)
        if say is not None:
            say.click(preview_speech, [script, voice], heard, **private)
        video.change(offer_download, video, download, **private)
        run = go.click(
            generate,
            [
                image,
                audio,
                script,
                preset,
                framing,
                fps,
                head_motion,
                blink_rate,
                expression,
                seed,
                face,
                refine,
                voice,
                motion,
                renderer,
            ],
            outputs,
            api_name="generate",
            concurrency_id="generate",
            concurrency_limit=S.default_concurrency(),
            scroll_to_output=True,
            show_progress_on=video,
        )
        stop.click(cancel, None, None, cancels=[run], **private)
    return demo


def _audio_input():
    audio = gr.Audio(
        label="Voice-over",
        type="filepath",
        sources=["upload", "microphone"],
        elem_id="voice-over",
    )
    return S.guard_preprocess(audio, S.AUDIO_UNREADABLE)


# --------------------------------------------------------------------------- main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Talking portrait web app")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--concurrency", type=int, default=None, help="videos rendered at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.concurrency:
        os.environ["AVATAR_APP_CONCURRENCY"] = str(args.concurrency)
    demo = build_demo()
    demo.queue(max_size=S.QUEUE_SIZE, default_concurrency_limit=S.default_concurrency())
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=S.MAX_FILE_SIZE,
        allowed_paths=[str(WORK.root), str(S.EXAMPLES)],
        theme=THEME,
        css=CSS,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        prevent_thread_lock=True,
        quiet=True,
    )
    warm = WARM_UP.wait() if WARM_UP is not None else 0.0
    print(
        f"Talking portrait ready on http://{args.host}:{args.port} "
        f"in {time.perf_counter() - _T0:.1f} s (models loaded in {warm:.1f} s)",
        flush=True,
    )
    if demo.share_url:
        print(f"Public link: {demo.share_url}", flush=True)
    log.info(
        "renders at once: %d, queue: %d, uploads up to %s, voice-overs up to %.0f s, "
        "work folder: %s",
        S.default_concurrency(),
        S.QUEUE_SIZE,
        S.MAX_FILE_SIZE,
        S.MAX_AUDIO_SECONDS,
        WORK.root,
    )
    # `kill` / a container stop: leave through the finally below, so temp files go too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        demo.block_thread()
    finally:
        demo.close()
        WORK.cleanup_all()


if __name__ == "__main__":
    main()
