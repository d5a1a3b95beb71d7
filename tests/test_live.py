"""The live avatar: frames on a clock, the mouth following pushed speech, idle life without
audio, and every bad push as one exception while the stream goes on."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.io import wavfile

from avatar import live as L
from tests.conftest import shared

PORTRAIT = "portraits/cc0_codait_luciano.png"


@pytest.fixture
def avatar(monkeypatch):
    monkeypatch.setattr(L.os, "cpu_count", lambda: 2)  # one session slot, as on 2 cores
    live = L.LiveAvatar(shared(PORTRAIT), size=256, fps=25, seed=0)
    yield live
    live.close()


def _speech() -> np.ndarray:
    sr, x = wavfile.read(shared("speech/en_male_clean_voicebank_p287_003.wav"))
    assert sr == 16000
    return x.astype(np.float32) / 32768.0


def _collect(live, seconds: float, on_frame=None) -> list[np.ndarray]:
    frames = []
    stop = time.perf_counter() + seconds
    for frame in live.frames():
        frames.append(frame)
        if on_frame is not None:
            on_frame(live)
        if time.perf_counter() > stop:
            break
    return frames


def test_mouth_follows_pushed_speech_and_rests_after(avatar):
    speech = _speech()[: 16000 * 2]
    jaw = []

    def feed():
        for i in range(0, len(speech), 320):  # 20 ms chunks at real-time pace
            avatar.push_audio(speech[i : i + 320])
            time.sleep(0.02)

    threading.Thread(target=feed, daemon=True).start()
    t0 = time.perf_counter()
    frames = _collect(avatar, 3.2, lambda live: jaw.append(live.mouth_state["jaw_open"]))
    elapsed = time.perf_counter() - t0
    assert all(f.shape == (256, 256, 3) and f.dtype == np.uint8 for f in frames)
    assert len(frames) <= 25 * elapsed + 2  # never faster than the clock
    assert max(jaw) > 0.3  # the mouth opened with the voice
    assert max(jaw[-5:]) < 0.05  # and came back to rest when it stopped
    assert avatar.stats.latencies_s and avatar.last_sample_shown > 16000
    # on screen after its push: a chunk, the look-ahead and a frame at least
    assert min(avatar.stats.latencies_s) >= (L.CHUNK_FRAMES + L.LOOKAHEAD_FRAMES - 1) / 25


def test_without_audio_the_face_keeps_moving(avatar):
    frames = _collect(avatar, 2.0)
    assert len(frames) >= 10
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:])]
    assert np.mean(np.array(diffs) > 0) > 0.5  # idle life, not a frozen stare
    assert avatar.stats.latencies_s == []


def test_bad_pushes_are_one_exception_each_and_the_stream_goes_on(avatar):
    with pytest.raises(L.LiveError, match="float32"):
        avatar.push_audio(np.zeros(320, np.int16))
    with pytest.raises(L.LiveError, match="mono"):
        avatar.push_audio(np.zeros((320, 2), np.float32))
    with pytest.raises(L.LiveError, match="NaN"):
        avatar.push_audio(np.full(320, np.nan, np.float32))
    with pytest.raises(L.LiveError, match="16 kHz"):
        avatar.push_audio(np.zeros(441, np.float32), sample_rate=44100)
    with pytest.raises(L.LiveError, match="numpy array"):
        avatar.push_audio([0.0] * 320)
    avatar.push_audio(np.zeros((320, 1), np.float32))  # a column is mono: fine
    assert len(_collect(avatar, 0.5)) >= 3


def test_close_ends_the_frames_and_later_pushes_fail(avatar):
    threading.Timer(0.5, avatar.close).start()
    frames = list(avatar.frames())  # returns once closed
    assert 3 <= len(frames) <= 20
    with pytest.raises(L.LiveClosedError):
        avatar.push_audio(np.zeros(320, np.float32))


def test_a_second_session_on_a_busy_machine_is_refused(avatar):
    with pytest.raises(L.LiveBusyError, match="already running"):
        L.LiveAvatar(shared(PORTRAIT), size=256)
    avatar.close()  # the slot is free again
    again = L.LiveAvatar(shared(PORTRAIT), size=256)
    again.close()


def test_bad_frame_rate_and_size():
    with pytest.raises(L.LiveError, match="between 10 and 60"):
        L.LiveAvatar(shared(PORTRAIT), fps=5)
    with pytest.raises(L.LiveError, match="even number of pixels"):
        L.LiveAvatar(shared(PORTRAIT), size=513)


def test_serving_on_a_taken_port_is_one_sentence(avatar):
    import socket

    from avatar import live_tools

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(L.LiveError, match=r"Cannot serve on 127\.0\.0\.1:\d+"):
            live_tools.serve(avatar, s.getsockname()[1], 1.0)


def test_avatar_live_records_the_stream_with_the_voice_in_sync(tmp_path, capsys, monkeypatch):
    from avatar.cli import main
    from avatar.video import probe_video

    monkeypatch.setattr(L.os, "cpu_count", lambda: 2)
    voice = tmp_path / "voice.wav"
    wavfile.write(voice, 16000, _speech()[: 16000 * 2])
    out = tmp_path / "live.mp4"
    argv = ["live", "--image", str(shared(PORTRAIT)), "--audio", str(voice), "-o", str(out),
            "--size", "256"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "sound-to-mouth latency" in captured.err
    info = probe_video(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (256, 256)
    assert info.video_duration >= 2.0  # the whole voice was shown, then a second of rest
    assert main(["live", "--image", str(shared(PORTRAIT))]) == 2
    assert "--output rec.mp4 or --serve PORT" in capsys.readouterr().err


def test_serve_streams_jpeg_frames_on_localhost(monkeypatch):
    import socket
    import urllib.request

    from avatar import live_tools

    monkeypatch.setattr(L.os, "cpu_count", lambda: 2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live = L.LiveAvatar(shared(PORTRAIT), size=128)
    server = threading.Thread(target=live_tools.serve, args=(live, port, 3.0), daemon=True)
    server.start()
    time.sleep(0.8)
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
    assert b'src="/stream"' in page
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream", timeout=5) as stream:
        head = stream.read(4096)
    assert b"--frame" in head and b"\xff\xd8" in head  # a multipart JPEG stream
    server.join(timeout=10)
    assert not server.is_alive() and live.closed


def test_mic_without_portaudio_is_one_sentence(tmp_path, capsys, monkeypatch):
    from avatar.cli import main

    try:
        import sounddevice  # noqa: F401

        pytest.skip("PortAudio is installed here: the microphone path would really open")
    except (ImportError, OSError):
        pass
    monkeypatch.setattr(L.os, "cpu_count", lambda: 2)
    argv = ["live", "--image", str(shared(PORTRAIT)), "--mic", "-o", str(tmp_path / "m.mp4"),
            "--size", "128", "--seconds", "1"]  # fmt: skip
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "PortAudio" in err[0]
    assert not (tmp_path / "m.mp4").exists()
