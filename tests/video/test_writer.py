"""VideoWriter + probe_video: the container contract, atomic output, and failure paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from avatar.audio import Speech, load_audio
from avatar.errors import OutputError
from avatar.video import AI_GENERATED_TAGS, EncoderError, VideoWriter, probe_video

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SR = 16000


def bursts(seconds: float = 2.0) -> Speech:
    """Tone bursts with sharp onsets, so any audio delay shows up in a correlation."""
    t = np.arange(int(seconds * SR)) / SR
    gate = (np.floor(t * 5) % 2 == 0).astype(np.float32)
    samples = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32) * gate
    return Speech(samples=samples.astype(np.float32))


def gradient(width: int, height: int, phase: int = 0) -> np.ndarray:
    """A smooth colour gradient (what renders look like; noise would not survive yuv420p)."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    frame = np.empty((height, width, 3), np.float64)
    frame[..., 0] = 40 + 180 * x + 0 * y
    frame[..., 1] = 30 + 160 * y + 0 * x
    frame[..., 2] = 200 - 120 * (x + y) / 2 + phase % 20
    return np.clip(frame, 0, 255).astype(np.uint8)


def decode_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def write_clip(path: Path, n: int, size=(96, 64), fps=25.0, audio=None, **kwargs) -> Path:
    with VideoWriter(path, fps=fps, size=size, audio=audio, **kwargs) as video:
        for i in range(n):
            video.write(gradient(*size, phase=i))
    return video.close()


def test_fifty_frames_with_two_seconds_of_audio_meet_the_container_contract(tmp_path):
    out = tmp_path / "clip.mp4"
    speech = bursts(2.0)
    with VideoWriter(out, fps=25, size=(96, 64), audio=speech, metadata={"title": "demo"}) as video:
        for i in range(speech.n_frames(25)):
            video.write(gradient(96, 64, phase=i))
            assert not out.exists()  # never visible half-written
        assert len(leftovers(tmp_path)) == 2  # the partial mp4 and the audio wav
    assert video.frames_written == 50
    assert video.close() == out  # close() after the with block is idempotent
    assert leftovers(tmp_path) == []

    info = probe_video(out)
    assert info.video_codec == "h264" and info.pixel_format == "yuv420p"
    assert (info.width, info.height) == (96, 64)
    assert info.fps == pytest.approx(25.0)
    assert info.n_frames == 50
    assert info.audio_codec == "aac" and info.audio_sample_rate in (44100, 48000)
    assert info.video_duration == pytest.approx(2.0, abs=0.04)
    assert info.audio_duration == pytest.approx(2.0, abs=0.04)
    assert info.duration == pytest.approx(2.0, abs=0.04)
    assert "AI-generated" in info.metadata["comment"]
    assert info.metadata["synthetic"] == "true"
    assert info.metadata["title"] == "demo"


def test_browser_friendly_layout(tmp_path):
    import av

    out = write_clip(tmp_path / "web.mp4", 10, audio=bursts(0.4))
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: playable while loading
    with av.open(str(out)) as container:
        profile = container.streams.video[0].codec_context.profile
    assert profile in {"Constrained Baseline", "Baseline", "Main", "High"}
    # Readable permissions like any file the user creates, not mkstemp's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
def test_real_voice_over_and_video_end_together(tmp_path, fps):
    path = DATA / "speech" / "es_male_commonvoice_19125377.wav"
    if not path.is_file():
        pytest.skip("shared speech data is not available")
    speech = load_audio(path)
    out = write_clip(tmp_path / "es.mp4", speech.n_frames(fps), size=(64, 48), fps=fps,
                     audio=speech)  # fmt: skip
    info = probe_video(out)
    assert info.audio_duration == pytest.approx(speech.duration, abs=1e-3)  # exact: no padding
    assert abs(info.video_duration - info.audio_duration) <= 0.5 / fps + 1e-6
    assert info.duration == pytest.approx(max(info.video_duration, info.audio_duration), abs=0.01)


def test_muxed_audio_is_the_speech_without_delay(tmp_path):
    speech = bursts(2.0)
    out = write_clip(tmp_path / "sync.mp4", 50, audio=speech)
    back = load_audio(out, target_lufs=-20.0).samples.astype(np.float64)
    ref = speech.samples.astype(np.float64)
    assert len(back) == pytest.approx(len(ref), abs=SR // 1000)
    n = min(len(back), len(ref))
    lags = range(-160, 161)  # +-10 ms
    scores = [np.dot(ref[max(0, -k) : n - max(0, k)], back[max(0, k) : n - max(0, -k)])
              for k in lags]  # fmt: skip
    assert abs(list(lags)[int(np.argmax(scores))]) <= 16  # within 1 ms


def test_colours_survive_the_round_trip(tmp_path):
    size = (128, 96)
    frames = [gradient(*size, phase=i) for i in range(5)]
    with VideoWriter(tmp_path / "colour.mp4", fps=25, size=size, audio=None) as video:
        for frame in frames:
            video.write(frame)
    decoded = decode_frames(tmp_path / "colour.mp4")
    assert len(decoded) == 5
    for original, back in zip(frames, decoded, strict=True):
        error = np.abs(original.astype(int) - back.astype(int)).mean()
        assert error < 5
        assert error < 2.5  # about 1.5 here; a BT.601/BT.709 matrix mix-up gives about 3
    # OpenCV ignores colour tags and assumes BT.601: it must agree with tag-aware decoders.
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(tmp_path / "colour.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    assert np.abs(bgr[..., ::-1].astype(int) - decoded[0].astype(int)).mean() < 1.0


def test_non_contiguous_frames_are_written_correctly(tmp_path):
    wide = gradient(192, 64)
    view = wide[:, ::2]  # (64, 96, 3), strided
    assert not view.flags.c_contiguous
    with VideoWriter(tmp_path / "view.mp4", fps=25, size=(96, 64), audio=None) as video:
        video.write(view)
    (back,) = decode_frames(tmp_path / "view.mp4")
    assert np.abs(back.astype(int) - view.astype(int)).mean() < 5


def test_odd_sizes_are_cropped_to_even(tmp_path):
    frame = gradient(101, 75)
    with VideoWriter(tmp_path / "odd.mp4", fps=25, size=(101, 75), audio=None) as video:
        assert video.output_size == (100, 74)
        for _ in range(3):
            video.write(frame)
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (100, 74)
    (back, *_) = decode_frames(tmp_path / "odd.mp4")
    assert np.abs(back.astype(int) - frame[:74, :100].astype(int)).mean() < 5  # top-left kept


def test_silent_video_without_audio(tmp_path):
    info = probe_video(write_clip(tmp_path / "mute.mp4", 5, audio=None))
    assert info.audio_codec is None and info.audio_duration is None
    assert info.n_frames == 5


def test_caller_metadata_cannot_remove_the_ai_marking(tmp_path):
    out = write_clip(tmp_path / "tags.mp4", 2, metadata={"comment": "hello", "synthetic": "no"})
    tags = probe_video(out).metadata
    assert tags["comment"].startswith(AI_GENERATED_TAGS["comment"]) and "hello" in tags["comment"]
    assert tags["synthetic"] == "true"


def test_exception_inside_with_leaves_nothing_behind(tmp_path):
    out = tmp_path / "crash.mp4"
    with (
        pytest.raises(RuntimeError, match="renderer exploded"),
        VideoWriter(out, fps=25, size=(96, 64), audio=bursts(1.0)) as video,
    ):
        for i in range(10):
            video.write(gradient(96, 64, i))
        raise RuntimeError("renderer exploded")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert video._proc is not None and video._proc.poll() is not None  # ffmpeg is gone


def test_abort_and_failed_run_keep_the_previous_file(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"previous good video")
    video = VideoWriter(out, fps=25, size=(96, 64), audio=None)
    video.write(gradient(96, 64))
    video.abort()
    assert out.read_bytes() == b"previous good video"
    assert leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        video.write(gradient(96, 64))
    with VideoWriter(out, fps=25, size=(96, 64), audio=None) as video:
        video.write(gradient(96, 64))
        video.abort()  # changing one's mind inside the block is not an error
    assert out.read_bytes() == b"previous good video"
    assert leftovers(tmp_path) == []


def test_overwrite(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists") as info:
        VideoWriter(out, fps=25, size=(96, 64), audio=None, overwrite=False)
    assert "\n" not in str(info.value)
    assert out.read_bytes() == b"x" and leftovers(tmp_path) == []
    write_clip(out, 2)  # overwrite=True is the default
    assert probe_video(out).n_frames == 2


def test_destination_created_meanwhile_is_not_clobbered_without_overwrite(tmp_path):
    out = tmp_path / "race.mp4"
    video = VideoWriter(out, fps=25, size=(96, 64), audio=None, overwrite=False)
    video.write(gradient(96, 64))
    out.write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="already exists"):
        video.close()
    assert out.read_bytes() == b"someone else's" and leftovers(tmp_path) == []


def test_missing_folder_is_refused_up_front(tmp_path):
    with pytest.raises(OutputError, match="does not exist") as info:
        VideoWriter(tmp_path / "no" / "such" / "out.mp4", fps=25, size=(96, 64), audio=None)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def _unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    (folder / "probe").unlink()  # root ignores permissions: try a folder the kernel refuses
    sysfs = Path("/sys")
    try:
        (sysfs / "avatar-probe.mp4").touch()
    except OSError:
        return sysfs
    pytest.skip("no unwritable folder available on this machine")


def test_unwritable_folder_is_refused_up_front(tmp_path):
    folder = _unwritable_folder(tmp_path)
    try:
        with pytest.raises(OutputError, match="permission") as info:
            VideoWriter(folder / "out.mp4", fps=25, size=(96, 64), audio=bursts(0.5))
        assert "\n" not in str(info.value)
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_wrong_extension_and_bad_frames(tmp_path):
    with pytest.raises(OutputError, match=r"\.mp4"):
        VideoWriter(tmp_path / "out.avi", fps=25, size=(96, 64), audio=None)
    with VideoWriter(tmp_path / "ok.mp4", fps=25, size=(96, 64), audio=None) as video:
        with pytest.raises(ValueError, match="shape"):
            video.write(np.zeros((96, 64, 3), np.uint8))  # (width, height) swapped
        with pytest.raises(ValueError, match="uint8"):
            video.write(np.zeros((64, 96, 3), np.float32))
        video.write(np.zeros((64, 96, 3), np.uint8))
    assert probe_video(tmp_path / "ok.mp4").n_frames == 1


def test_encoder_dying_mid_stream_raises_output_error_with_its_stderr(tmp_path, monkeypatch):
    import imageio_ffmpeg

    fake = tmp_path / "fake-ffmpeg"
    fake.write_text("#!/bin/sh\necho 'fake encoder: out of cheese' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    out = tmp_path / "dies.mp4"
    with (
        pytest.raises(OutputError, match="stopped unexpectedly") as info,
        VideoWriter(out, fps=25, size=(640, 480), audio=bursts(0.5)) as video,
    ):
        for _ in range(20):  # 20 x 0.9 MB: more than any pipe buffer holds
            video.write(np.zeros((480, 640, 3), np.uint8))
    cause = info.value.__cause__
    assert isinstance(cause, EncoderError)
    assert "out of cheese" in str(cause) and cause.returncode == 3
    assert isinstance(cause.__cause__, BrokenPipeError)
    assert not out.exists() and leftovers(tmp_path) == []


def test_closing_without_frames_is_a_programming_error(tmp_path):
    video = VideoWriter(tmp_path / "empty.mp4", fps=25, size=(96, 64), audio=bursts(0.5))
    with pytest.raises(ValueError, match="no frames"):
        video.close()
    assert list(tmp_path.iterdir()) == []


def test_probe_grid_mpg():
    path = DATA / "videos" / "grid_bbaf2n_male.mpg"
    if not path.is_file():
        pytest.skip("shared video data is not available")
    info = probe_video(path)
    assert (info.video_codec, info.audio_codec) == ("mpeg1video", "mp2")
    assert (info.width, info.height, info.fps) == (360, 288, 25.0)
    assert info.n_frames == 75 and info.video_duration == pytest.approx(3.0)
    # Counted from packets (the MPEG-PS header only estimates it): 131328 samples at 44.1 kHz.
    assert info.audio_duration == pytest.approx(131328 / 44100, abs=1e-3)


def test_probe_refuses_non_video(tmp_path):
    from avatar.errors import AvatarError

    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(AvatarError, match="not a video file"):
        probe_video(text)
    with pytest.raises(AvatarError, match="does not exist"):
        probe_video(tmp_path / "missing.mp4")
