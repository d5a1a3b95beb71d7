"""What ``avatar live`` does with a LiveAvatar: feed it a file in real time, record the
stream to an mp4, or serve it to a browser as MJPEG on 127.0.0.1."""

from __future__ import annotations

import http.server
import io
import threading
import time
from pathlib import Path

import numpy as np

from avatar.audio.speech import Speech
from avatar.live import SAMPLE_RATE, LiveAvatar

CHUNK_S = 0.02  # what a microphone callback delivers


def feed_in_real_time(live: LiveAvatar, samples: np.ndarray, *, then_close_after: float | None):
    """Push ``samples`` in 20 ms chunks at the pace they play (a thread); optionally close
    the avatar ``then_close_after`` seconds after the last chunk."""

    def run() -> None:
        chunk = int(CHUNK_S * SAMPLE_RATE)
        start = time.perf_counter()
        for k, i in enumerate(range(0, len(samples), chunk)):
            delay = start + k * CHUNK_S - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if live.closed:
                return
            live.push_audio(samples[i : i + chunk])
        if then_close_after is not None:
            time.sleep(then_close_after)
            live.close()

    thread = threading.Thread(target=run, name="live-feed", daemon=True)
    thread.start()
    return thread


def open_microphone(live: LiveAvatar):
    """Push the default microphone into ``live`` (20 ms blocks); returns the open stream.

    Uses sounddevice (installed with mediapipe), which needs the PortAudio library.
    """
    from avatar.live import LiveError

    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise LiveError(
            "--mic records through sounddevice, which needs the PortAudio library "
            f"({exc}; apt-get install libportaudio2, or pip install sounddevice)."
        ) from exc

    def callback(indata, frames, when, status) -> None:
        if not live.closed:
            live.push_audio(np.ascontiguousarray(indata[:, 0], dtype=np.float32))

    try:
        stream = sounddevice.InputStream(
            samplerate=SAMPLE_RATE,
            channels=1,
            dtype="float32",
            blocksize=int(CHUNK_S * SAMPLE_RATE),
            callback=callback,
        )
        stream.start()
    except Exception as exc:  # noqa: BLE001 - sounddevice.PortAudioError and friends
        raise LiveError(f"Cannot open the microphone: {exc}.") from exc
    return stream


def record(live: LiveAvatar, path: str | Path, speech: Speech | None, seconds: float) -> Path:
    """The stream as an mp4: every frame as shown (encoded as it comes, memory flat), and
    the voice delayed by the measured median sound-to-mouth latency, so the recording is
    in sync as a viewer would want it."""
    import shutil
    import subprocess
    import tempfile

    import imageio_ffmpeg
    from scipy.io import wavfile

    from avatar.errors import OutputError
    from avatar.video.writer import VideoWriter

    path = Path(path)
    stop = time.perf_counter() + seconds
    with tempfile.TemporaryDirectory(prefix="avatar-live-") as tmp:
        silent = Path(tmp) / "video.mp4"
        with VideoWriter(silent, fps=live.fps, size=live.output_size, audio=None) as video:
            for frame in live.frames():
                video.write(frame)
                if time.perf_counter() > stop:
                    live.close()
        if speech is None:
            shutil.move(silent, path)
            return path
        latency = float(np.median(live.stats.latencies_s)) if live.stats.latencies_s else 0.0
        wav = Path(tmp) / "voice.wav"
        wavfile.write(wav, SAMPLE_RATE, speech.samples.astype(np.float32))
        muxed = Path(tmp) / "muxed.mp4"
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent),
            "-itsoffset", f"{latency:.3f}", "-i", str(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", str(muxed),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise OutputError(f"Cannot add the voice to the recording: {done.stderr.strip()}.")
        try:
            shutil.move(muxed, path)
        except OSError as exc:
            raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    return path


_PAGE = b"""<!doctype html><title>talking-avatar live</title>
<body style="margin:0;background:#111;display:flex;justify-content:center;align-items:center;height:100vh">
<img src="/stream" alt="live avatar" style="max-height:100vh"></body>"""


def serve(live: LiveAvatar, port: int, seconds: float | None = None) -> None:
    """MJPEG over HTTP on 127.0.0.1:``port`` (open it in a browser) until closed."""
    from PIL import Image

    latest: dict[str, bytes] = {}
    ready = threading.Condition()

    def produce() -> None:
        stop = None if seconds is None else time.perf_counter() + seconds
        for frame in live.frames():
            out = io.BytesIO()
            Image.fromarray(frame).save(out, format="JPEG", quality=85)
            with ready:
                latest["jpeg"] = out.getvalue()
                ready.notify_all()
            if stop is not None and time.perf_counter() > stop:
                live.close()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/stream":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(_PAGE)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                while not live.closed:
                    with ready:
                        ready.wait(timeout=1.0)
                        jpeg = latest.get("jpeg")
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n"
                    )
            except (BrokenPipeError, ConnectionResetError):
                return

    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:  # the port is taken, or below 1024 without the right
        from avatar.live import LiveError

        raise LiveError(f"Cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}.") from exc
    producer = threading.Thread(target=produce, name="live-frames", daemon=True)
    producer.start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while producer.is_alive():
            producer.join(timeout=0.5)
    finally:
        server.shutdown()
        server.server_close()
