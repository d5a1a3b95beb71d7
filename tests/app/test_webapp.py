"""The web app's parts (avatar/webapp), without a server or a browser."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from avatar.audio import Speech
from avatar.errors import AudioTooLongError, AvatarError, FaceNotFoundError, ImageError
from avatar.motion import Motion
from avatar.speech import VisemeTrack
from avatar.speech.tts import TTSResult
from avatar.webapp import form, jobs, limits, messages, plots, previews, progress, startup
from avatar.webapp.rigs import RigCache
from avatar.webapp.status import FeatureStatus, find_tts, wav2lip_status
from avatar.webapp.workdirs import WorkDirs, output_name
from pipelines.talking_portrait import STAGE_LABELS, STAGES, TalkingPortraitOutput
from tests.conftest import REPO, shared

SHORT_VOICE = "speech/en_male_clean_voicebank_p287_003.wav"


# --------------------------------------------------------------------------- settings


def test_build_settings_defaults_match_the_widgets():
    s = form.build_settings()
    assert s.preset == "balanced" and s.size == 512 and s.fps == 25.0 and s.seed == 0
    assert s.face_index == 0 and s.head_motion == 1.0 and s.transcript is None
    assert s.max_audio_seconds == limits.MAX_AUDIO_SECONDS
    assert not getattr(s, "refine", None)


def test_build_settings_converts_widget_values():
    s = form.build_settings(
        preset="quality",
        framing="Full photo",
        fps="30",
        seed=42.0,
        face_index="2",
        head_motion=0.5,
        blink_rate=None,
        transcript="  hello  ",
    )
    assert (s.preset, s.size, s.fps, s.seed, s.face_index) == ("quality", None, 30.0, 42, 2)
    assert s.head_motion == 0.5 and s.blink_rate == 1.0 and s.transcript == "hello"
    assert form.build_settings(framing="Face crop 768 × 768").size == 768
    assert form.build_settings(seed=None, face_index=None).seed == 0


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"preset": "ultra"}, "Unknown quality preset"),
        ({"framing": "square"}, "Unknown output framing"),
        ({"fps": "fast"}, "The frame rate must be a number"),
        ({"fps": 240}, "The frame rate must be between"),
        ({"seed": -1}, "The seed must be a whole number from 0"),
        ({"seed": 1.5}, "The seed must be a whole number from 0"),
        ({"seed": "abc"}, "The seed must be a whole number"),
        ({"face_index": -1}, "The face number cannot be negative"),
        ({"head_motion": 5}, "head motion must be between 0 and 3"),
    ],
)
def test_build_settings_refuses_bad_values_in_one_sentence(kwargs, start):
    with pytest.raises(AvatarError) as info:
        form.build_settings(**kwargs)
    assert str(info.value).startswith(start)


def test_refine_is_refused_with_the_reason_when_unavailable(monkeypatch):
    monkeypatch.setattr(form, "wav2lip_status", lambda: FeatureStatus(False, "No weights here."))
    with pytest.raises(AvatarError, match="No weights here."):
        form.build_settings(refine=True)


def test_refine_switches_on_the_available_refiner(monkeypatch):
    monkeypatch.setattr(form, "wav2lip_status", lambda: FeatureStatus(True, "ok", "wav2lip_gan"))
    assert form.build_settings(refine=True).refine == "wav2lip_gan"


# --------------------------------------------------------------------------- messages


def test_cli_hints_are_reworded_for_the_web():
    assert messages.for_web(
        "The voice-over is 72.0 seconds long; the limit is 30 seconds "
        "(change it with --max-audio-minutes)."
    ) == ("The voice-over is 72.0 seconds long; the limit is 30 seconds (use a shorter clip).")
    assert messages.for_web(
        "use a photo within 50°, or choose another of its 5 faces with --face-index."
    ) == ("use a photo within 50°, or choose another of its 5 faces in the Face menu.")
    assert "--" not in messages.for_web(
        "The Wav2Lip weights are not downloaded; run `avatar weights download wav2lip`, "
        "or pass --wav2lip-checkpoint PATH to a copy you already have."
    )


def test_user_message_never_leaks_internals():
    assert messages.user_message(FaceNotFoundError("No face was found.")) == "No face was found."
    assert messages.user_message(KeyError("landmarks")) == messages.GENERIC_ERROR
    assert messages.user_message(MemoryError()).startswith("The photo or voice-over is too large")
    assert messages.user_message(messages.Cancelled()) == "The video was cancelled."


def test_to_gr_error_maps_avatar_errors_and_logs_unexpected_ones(caplog):
    gr = pytest.importorskip("gradio")
    err = messages.to_gr_error(AudioTooLongError("Too long (change it with --max-audio-minutes)."))
    assert isinstance(err, gr.Error) and err.message == "Too long (use a shorter clip)."
    with caplog.at_level("ERROR"):
        err = messages.to_gr_error(ZeroDivisionError("division by zero"))
    assert err.message == messages.GENERIC_ERROR
    assert "unexpected error" in caplog.text
    same = gr.Error("as is")
    assert messages.to_gr_error(same) is same


def test_guard_preprocess_turns_an_unreadable_upload_into_one_sentence(tmp_path):
    gr = pytest.importorskip("gradio")
    from gradio.data_classes import ImageData

    bogus = tmp_path / "photo.png"
    bogus.write_text("this is not a png")
    image = messages.guard_preprocess(
        gr.Image(type="filepath", image_mode=None), messages.IMAGE_UNREADABLE
    )
    with pytest.raises(gr.Error) as info:
        image.preprocess(ImageData(path=str(bogus), orig_name="photo.png"))
    assert info.value.message == messages.IMAGE_UNREADABLE
    good = tmp_path / "good.png"
    Image.new("RGB", (80, 80)).save(good)
    assert image.preprocess(ImageData(path=str(good), orig_name="good.png")) == str(good)


# --------------------------------------------------------------------------- optional features


def test_wav2lip_status_is_one_line_with_a_command_when_unavailable():
    status = wav2lip_status()
    assert isinstance(status.available, bool)
    assert "\n" not in status.reason and status.reason.endswith(".")
    if not status.available and "weights" in status.reason:
        assert "avatar weights download" in status.reason
        assert "--wav2lip-checkpoint" not in status.reason


def test_wav2lip_status_with_weights_present(monkeypatch):
    import avatar.refine

    def checkpoint_path(kind, checkpoint=None):
        if kind == "wav2lip_gan":
            raise AvatarError("The Wav2Lip GAN weights are not downloaded; run `x`.")
        return Path("/tmp/wav2lip.pth")

    monkeypatch.setattr(avatar.refine, "checkpoint_path", checkpoint_path)
    monkeypatch.setattr(avatar.refine, "require_torch", lambda: None)
    status = wav2lip_status()
    assert status.available and status.kind == "wav2lip"

    def missing(kind, checkpoint=None):
        raise AvatarError(
            "The Wav2Lip GAN weights are not downloaded; run `avatar weights download wav2lip_gan`."
        )

    monkeypatch.setattr(avatar.refine, "checkpoint_path", missing)
    status = wav2lip_status()
    assert not status.available and "avatar weights download wav2lip_gan" in status.reason


def test_tts_tab_is_hidden_without_espeak_ng(monkeypatch):
    import avatar.speech.tts

    monkeypatch.setattr(avatar.speech.tts, "is_available", lambda: False)
    assert find_tts() is None
    monkeypatch.setattr(avatar.speech.tts, "is_available", lambda: True)
    assert find_tts() is avatar.speech.tts.synthesize


def test_motion_status_names_the_default_engine():
    from avatar.motion import default_engine, diffusion_unavailable
    from avatar.webapp.status import motion_status

    status = motion_status()
    assert status.kind == default_engine()
    assert status.available == (diffusion_unavailable() is None)
    assert "\n" not in status.reason and status.reason.endswith(".")


# --------------------------------------------------------------------------- work folders and cache


def test_workdirs_sweep_old_jobs_and_clean_up(tmp_path):
    work = WorkDirs(tmp_path / "root", max_age_s=60)
    old = work.new()
    (old / "video.mp4").write_bytes(b"x")
    cache = work.root / "examples-cache"  # where app.py points gradio's example cache
    cache.mkdir()
    past = time.time() - 120
    os.utime(old, (past, past))
    os.utime(cache, (past, past))
    fresh = work.new()  # sweeps on the way
    assert not old.exists() and fresh.exists() and fresh.parent == work.root
    assert cache.exists()  # the cached example outlives the jobs
    work.discard(fresh)
    assert not fresh.exists()
    work.discard(tmp_path)  # never outside its root
    assert tmp_path.exists()
    work.new()
    work.cleanup_all()
    assert not work.root.exists()


def test_rig_cache_analyses_each_photo_once_by_content(tmp_path):
    calls = []

    def analyze(path, face_index=0):
        calls.append((Path(path).name, face_index))
        return SimpleNamespace(path=path, face_index=face_index)

    a = tmp_path / "a.png"
    b = tmp_path / "same_bytes_other_name.png"
    c = tmp_path / "c.png"
    Image.new("RGB", (64, 64), "red").save(a)
    b.write_bytes(a.read_bytes())
    Image.new("RGB", (64, 64), "blue").save(c)
    cache = RigCache(analyze, max_items=2)
    first = cache.get(a)
    assert cache.get(b) is first  # same content: a hit, whatever the upload is called
    cache.get(a, 1)  # another face is another entry
    cache.get(c)  # evicts the least recently used (a, 0)
    cache.get(a)
    assert calls == [("a.png", 0), ("a.png", 1), ("c.png", 0), ("a.png", 0)]
    assert len(cache) == 2 and cache.hits == 1
    with pytest.raises(ImageError):
        cache.get(tmp_path / "gone.png")


# --------------------------------------------------------------------------- preview


@pytest.fixture(scope="module")
def rigs():
    return RigCache()


def test_preview_of_a_single_face(rigs):
    p = previews.preview_portrait(str(shared("portraits/cc0_codait_luciano.png")), 0, rigs)
    assert p.ok and not p.several_faces and p.face_choices == [("Face 1 (largest)", 0)]
    assert p.message.startswith("**Face found:**") and "facing the camera" in p.message
    assert p.image.dtype == np.uint8 and max(p.image.shape[:2]) <= previews.PREVIEW_SIDE
    green = np.all(p.image == np.array(previews._CHOSEN, np.uint8), axis=-1)
    assert green.sum() > 100  # the box and outline are drawn


def test_preview_of_two_faces_offers_a_choice(rigs):
    path = str(shared("portraits/pixabay_laos_two_faces.jpg"))
    p = previews.preview_portrait(path, 0, rigs)
    assert p.ok and p.several_faces and [v for _, v in p.face_choices] == [0, 1]
    assert "**Several faces:** 2 found; animating face 1" in p.message
    p2 = previews.preview_portrait(path, 1, rigs)
    assert p2.ok and p2.face_index == 1 and "animating face 2" in p2.message


def test_preview_of_a_group_whose_largest_face_is_turned_away(rigs):
    path = str(shared("portraits/pexels_group_meeting_5faces.jpeg"))
    p = previews.preview_portrait(path, 0, rigs)
    assert not p.ok and len(p.face_choices) == 5 and p.image is not None
    assert p.message.startswith("**Cannot use this photo:** The head is turned too far")
    assert "Face menu" in p.message and "--face-index" not in p.message
    red = np.all(p.image == np.array(previews._BAD, np.uint8), axis=-1)
    assert red.sum() > 20
    usable = previews.preview_portrait(path, 1, rigs)
    assert usable.ok and usable.face_index == 1 and "**Turned head:**" in usable.message


def test_preview_says_why_a_photo_cannot_be_used(rigs, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    p = previews.preview_portrait(str(blank), 0, rigs)
    assert not p.ok and "No face was found" in p.message and p.image is not None
    text = tmp_path / "photo.jpg"
    text.write_text("hello")
    p = previews.preview_portrait(str(text), 0, rigs)
    assert not p.ok and p.image is None and "not an image file that can be read" in p.message
    assert previews.preview_portrait(None, 0, rigs).message == ""


def test_preview_of_a_face_cut_by_the_photos_edge(rigs, bad_inputs):
    p = previews.preview_portrait(str(bad_inputs["cut_left_eye"]), 0, rigs)
    assert p.ok and "**Note:** The face is cut by the photo's edge" in p.message
    p = previews.preview_portrait(str(bad_inputs["cut_half"]), 0, rigs)
    assert not p.ok and "use a photo that shows the whole face" in p.message
    assert p.image is not None  # the photo is shown with the face boxed in red


def test_describe_rig_warns_about_small_and_turned_faces():
    rig = SimpleNamespace(face_width=90.0, yaw=32.0, pitch=-5.0, n_faces=1, notices=[])
    text = previews.describe_rig(rig)
    assert "**Small face:** only 90 px wide" in text
    assert "**Turned head:** 32° sideways" in text
    rig = SimpleNamespace(
        face_width=300.0,
        yaw=2.0,
        pitch=3.0,
        n_faces=1,
        notices=["The image (5000×4000) was downscaled to 4096×3277."],
    )
    text = previews.describe_rig(rig)
    assert "facing the camera" in text and "**Note:** The image (5000×4000)" in text
    assert "Small face" not in text and "Turned head" not in text


# --------------------------------------------------------------------------- voice-over


def test_describe_audio(tmp_path):
    voice = shared(SHORT_VOICE)
    assert previews.describe_audio(str(voice)) == "**Voice-over:** 7.2 s"
    long_voice = shared("speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac")
    text = previews.describe_audio(str(long_voice), max_seconds=30)
    assert text.startswith(
        "**Too long:** the voice-over is 1 min 12 s; this app takes up to 30.0 s"
    )
    junk = tmp_path / "voice.mp3"
    junk.write_text("not audio")
    assert previews.describe_audio(str(junk)).startswith("**Cannot use this voice-over:**")
    assert previews.describe_audio(None) == ""
    assert previews.format_duration(125) == "2 min 05 s"


# --------------------------------------------------------------------------- progress and cancel


def test_progress_reporter_names_stages_and_never_goes_back():
    seen = []
    report = progress.ProgressReporter(lambda f, desc: seen.append((round(f, 4), desc)))
    report("face", 0.0)
    report("face", 1.0)
    report("audio", 0.0)
    report("face", 1.0)  # out of order: the bar holds
    for stage in STAGES[1:]:
        report(stage, 0.0)
        report(stage, 0.5)
        report(stage, 1.0)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert seen[0][1] == f"{STAGE_LABELS['face']} (step 1 of {len(STAGES)})"
    assert seen[-1][1].startswith(STAGE_LABELS["render"])
    assert sum(report.weights.values()) == pytest.approx(1.0)
    report("unknown", 0.5)  # ignored, no error


def test_progress_reporter_raises_cancelled():
    flags = progress.CancelFlags()
    report = progress.ProgressReporter(None, lambda: flags.is_set("abc"))
    report("face", 0.5)
    assert not flags.request("abc")  # nothing running for that session: nothing to cancel
    assert not flags.is_set("abc")
    flags.start("abc")
    assert flags.request("abc")
    with pytest.raises(messages.Cancelled):
        report("render", 0.1)
    flags.clear("abc")
    report("render", 0.2)
    flags.finish("abc")
    flags.start("abc")  # a new render forgets an old request
    assert not flags.is_set("abc")
    assert not flags.is_set(None)


def test_gradio_event_cancelled_is_false_outside_gradio():
    assert progress.gradio_event_cancelled() is False


def test_default_concurrency(monkeypatch):
    monkeypatch.setenv("AVATAR_APP_CONCURRENCY", "3")
    assert limits.default_concurrency() == 3
    monkeypatch.setenv("AVATAR_APP_CONCURRENCY", "lots")
    assert limits.default_concurrency() >= 1
    monkeypatch.delenv("AVATAR_APP_CONCURRENCY")
    assert limits.default_concurrency() == max(1, (os.cpu_count() or 2) // 2)


# --------------------------------------------------------------------------- motion plot


def _fake_motion(n=250, fps=25.0) -> Motion:
    m = Motion.zeros(n, fps)
    t = np.arange(n) / fps
    m["jaw_open"] = np.clip(np.sin(2 * np.pi * 2 * t), 0, 1)
    blink = np.zeros(n)
    blink[[i for i in (40, 41, 42, 150, 151) if i < n]] = 1.0
    m["blink_left"] = blink
    m["blink_right"] = blink
    m["yaw"] = 3 * np.sin(t)
    return m


def test_motion_figure_has_three_panels_and_renders_to_png():
    motion = _fake_motion()
    env = np.asarray(motion["jaw_open"]) * 0.8 + 0.1
    fig = plots.motion_figure(motion, env)
    axes = fig.get_axes()
    assert len(axes) == 3
    assert "r = 1.00" in axes[0].get_title(loc="left")
    assert axes[1].get_title(loc="left") == "Blinks: 2 (12 per minute)"
    assert axes[2].get_title(loc="left") == "Head pose (degrees)"
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(plots.motion_figure(motion, None).get_axes()) == 3  # no envelope: mouth alone


def test_count_blinks():
    assert plots.count_blinks(np.array([0, 1, 1, 0, 0, 1, 0])) == 2
    assert plots.count_blinks(np.array([1, 1, 0])) == 1
    assert plots.count_blinks(np.zeros(0)) == 0


def test_envelope_is_per_frame_and_scaled():
    sr = 16000
    t = np.arange(sr * 2) / sr
    loud = (np.sin(2 * np.pi * 200 * t) * (t > 1.0)).astype(np.float32)
    env = plots.envelope_of(Speech(loud), 25.0, 50)
    assert env.shape == (50,) and env.min() >= 0 and env.max() <= 1
    assert env[:20].mean() < 0.1 and env[30:].mean() > 0.9


# --------------------------------------------------------------------------- generation plumbing


class FakePipeline:
    """Stands in for TalkingPortraitPipeline: reports every stage and writes a file."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.calls = []

    def __call__(self, image, audio, settings, *, output, progress, rig, phones=None):
        self.calls.append((image, audio, settings, rig, phones))
        for stage in STAGES:
            progress(stage, 0.0)
            if self.fail is not None and stage == "render":
                raise self.fail
            progress(stage, 1.0)
        Path(output).write_bytes(b"mp4")
        n = audio.n_frames(settings.fps)
        return TalkingPortraitOutput(
            video_path=Path(output),
            motion=_fake_motion(n, settings.fps),
            timings={"total": 0.5},
            notices=[
                "The photo has 2 faces; animating face 0 (0 is the largest; choose another with --face-index)."
            ],
            size=(512, 512),
            n_frames=n,
            fps=settings.fps,
            audio_duration=audio.duration,
        )


def test_generate_video_reuses_the_previewed_rig(tmp_path):
    analysed = []
    cache = RigCache(lambda p, face_index=0: analysed.append(p) or SimpleNamespace(i=face_index))
    work = WorkDirs(tmp_path / "work")
    portrait = str(shared("portraits/cc0_codait_luciano.png"))
    cache.get(portrait)  # the preview
    pipe = FakePipeline()
    bar = []
    result = jobs.generate_video(
        pipe,
        portrait,
        str(shared(SHORT_VOICE)),
        form.build_settings(),
        rigs=cache,
        workdirs=work,
        progress=lambda f, desc: bar.append(f),
    )
    assert len(analysed) == 1 and pipe.calls[0][3] is not None
    assert isinstance(pipe.calls[0][1], Speech)  # decoded once, in the app
    assert result.video_path.parent.parent == work.root
    assert result.video_path.name == "talking_cc0_codait_luciano.mp4"
    assert result.summary.startswith(
        "**Done:** 512×512, 181 frames at 25 fps, 7.2 s, made in 0.5 s."
    )
    assert "faces; animating" not in result.summary  # the page says it in the preview
    assert bar == sorted(bar) and bar[-1] == pytest.approx(1.0)
    with Image.open(result.plot_path) as plot:  # a PNG file, which the example cache keeps
        assert plot.format == "PNG" and plot.size == (800, 540)
    assert result.plot_path.parent == result.video_path.parent


def test_generate_video_explains_missing_inputs_and_cleans_up(tmp_path):
    cache = RigCache(lambda p, face_index=0: SimpleNamespace())
    work = WorkDirs(tmp_path / "work")
    portrait = str(shared("portraits/cc0_codait_luciano.png"))
    voice = str(shared(SHORT_VOICE))
    settings = form.build_settings()
    with pytest.raises(ImageError, match="Add a portrait photo first"):
        jobs.generate_video(FakePipeline(), None, voice, settings, rigs=cache, workdirs=work)
    with pytest.raises(AvatarError, match="Add a voice-over first"):
        jobs.generate_video(FakePipeline(), portrait, None, settings, rigs=cache, workdirs=work)
    with pytest.raises(messages.Cancelled):
        jobs.generate_video(
            FakePipeline(),
            portrait,
            voice,
            settings,
            rigs=cache,
            workdirs=work,
            cancelled=lambda: True,
        )
    with pytest.raises(RuntimeError):
        jobs.generate_video(
            FakePipeline(RuntimeError("boom")), portrait, voice, settings, rigs=cache, workdirs=work
        )
    assert list(work.root.iterdir()) == []  # failed jobs leave nothing behind


def test_generate_video_from_a_script_when_a_tts_exists(tmp_path):
    cache = RigCache(lambda p, face_index=0: SimpleNamespace())
    work = WorkDirs(tmp_path / "work")
    spoken = Speech(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1)
    timings = VisemeTrack([], "espeak", "en", 1.0)
    pipe = FakePipeline()
    result = jobs.generate_video(
        pipe,
        str(shared("portraits/cc0_codait_luciano.png")),
        None,
        form.build_settings(),
        rigs=cache,
        workdirs=work,
        script="Hello there.",
        tts=lambda text, language="en": TTSResult(spoken, timings),
    )
    assert pipe.calls[0][1] is spoken and pipe.calls[0][2].transcript == "Hello there."
    assert pipe.calls[0][4] is timings  # the TTS's exact phone timings shape the mouth
    assert result.duration == pytest.approx(1.0)


def test_output_name_is_safe():
    assert output_name("/tmp/x/My photo (1).JPG") == "talking_My_photo_1.mp4"
    assert output_name("/tmp/x/...png") == "talking_portrait.mp4"


def test_examples_exist():
    rows = startup.example_files()
    assert rows and all(Path(p).is_file() for row in rows for p in row)


# --------------------------------------------------------------------------- Space packaging


def _requirement_lines(text: str) -> list[str]:
    return [
        line.split("#")[0].strip().replace(" ", "")
        for line in text.splitlines()
        if line.split("#")[0].strip()
    ]


def test_space_requirements_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["app"]
    listed = _requirement_lines((REPO / "requirements.txt").read_text())
    assert sorted(listed) == sorted(d.replace(" ", "") for d in expected)
    packages = (REPO / "packages.txt").read_text().split()
    assert {"libgl1", "libglib2.0-0", "espeak-ng"} <= set(packages)


def test_readme_is_a_gradio_space_card():
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n")
    card = text.split("---\n")[1]
    fields = dict(line.split(": ", 1) for line in card.strip().splitlines())
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert fields["license"] == "apache-2.0" and len(fields["short_description"]) <= 60
    gr = pytest.importorskip("gradio")
    assert fields["sdk_version"].split(".")[0] == gr.__version__.split(".")[0]
    assert "## Web app" in text and 'api_name="/generate"' in text


def test_the_server_line_names_pytorch_the_gpu_and_xformers():
    from avatar.webapp.status import server_report

    line = server_report()
    assert line.startswith("**This server:** PyTorch: ") and "\n" not in line
    assert "CUDA GPU: " in line and "xformers: " in line
