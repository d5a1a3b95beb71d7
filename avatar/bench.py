"""Speed and memory of the pipeline, per stage, against an encode-only floor.

Each configuration runs in a fresh subprocess so its peak RSS is its own.
Models are loaded (and a short warm-up clip rendered) before timing, as in a
running app.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "examples" / "portrait.png"
DEFAULT_AUDIO = REPO / "examples" / "voiceover.flac"
SHARED = REPO.parent / "shared" / "data"
NATIVE_IMAGE = SHARED / "portraits" / "pd_obama_official_portrait_2012_halfbody.jpg"
LONG_AUDIO = (
    REPO.parent
    / "shared"
    / "data"
    / "speech"
    / "en_female_ljspeech_LJ028-0030_to_0039_long72s.flac"
)


def _speech_of_length(audio: Path, seconds: float):
    """The voice-over, looped or cut to ``seconds``."""
    import numpy as np

    from avatar.audio import load_audio
    from avatar.audio.speech import Speech

    sp = load_audio(audio, max_seconds=max(seconds * 2, 700))
    n = int(seconds * sp.sample_rate)
    reps = int(np.ceil(n / len(sp.samples)))
    return Speech(np.tile(sp.samples, reps)[:n], sp.sample_rate, sp.source, sp.input_loudness_lufs)


def _one(image: str, audio: str, seconds: float, size: str, out_dir: str, preset: str) -> dict:
    """Runs inside the child process."""
    from avatar.settings import GenerationSettings
    from pipelines import TalkingPortraitPipeline

    pipe = TalkingPortraitPipeline()
    s = GenerationSettings(size=None if size == "native" else int(size), preset=preset)
    speech = _speech_of_length(Path(audio), seconds)
    warm = _speech_of_length(Path(audio), 1.0)
    rig = pipe.analyze_portrait(image, s)
    pipe(image, warm, s, output=Path(out_dir) / "warm.mp4", rig=rig)  # loads every model
    t0 = time.perf_counter()
    rig = pipe.analyze_portrait(image, s)
    face_s = time.perf_counter() - t0
    out = Path(out_dir) / f"bench_{size}_{seconds:g}.mp4"
    t0 = time.perf_counter()
    result = pipe(image, speech, s, output=out, rig=rig)
    wall = time.perf_counter() - t0 + face_s
    timings = dict(result.timings)
    timings["face"] = face_s
    floor = _encode_floor(result.size, result.n_frames, s, speech, out_dir, rig, size)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "size": f"{result.size[0]}x{result.size[1]}",
        "frames": result.n_frames,
        "wall": wall,
        "rtf": wall / seconds,
        "floor": floor,
        "ratio": wall / floor,
        "render_ms_per_frame": 1000 * timings["render"] / result.n_frames,
        "peak_rss_mb": peak_mb,
        **{f"t_{k}": v for k, v in timings.items()},
    }


def _encode_floor(size, n_frames, s, speech, out_dir, rig, size_arg) -> float:
    """ffmpeg alone encoding the still picture n_frames times with the same audio and settings."""
    import wave

    import cv2
    import imageio_ffmpeg
    import numpy as np

    from avatar.render import WarpRenderer

    still = WarpRenderer(rig, size=None if size_arg == "native" else int(size_arg)).canvas
    png = Path(out_dir) / "still.png"
    cv2.imwrite(str(png), np.ascontiguousarray(still[:, :, ::-1]))
    wav = Path(out_dir) / "floor.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(speech.sample_rate)
        w.writeframes((np.clip(speech.samples, -1, 1) * 32767).astype("<i2").tobytes())
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
        "-loop", "1", "-framerate", str(s.fps), "-i", str(png), "-i", str(wav),
        "-frames:v", str(n_frames), "-c:v", "libx264", "-preset", s.x264_preset,
        "-crf", str(s.video_crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
        "-movflags", "+faststart", str(Path(out_dir) / "floor.mp4"),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def run_benchmark(
    image: str | None = None,
    audio: str | None = None,
    seconds: list[float] | None = None,
    sizes: list[str] | None = None,
    out_dir: str | None = None,
    preset: str = "balanced",
) -> list[dict]:
    image_arg = image
    image = str(image or DEFAULT_IMAGE)
    audio = str(audio or (LONG_AUDIO if LONG_AUDIO.is_file() else DEFAULT_AUDIO))
    seconds = seconds or [10.0, 60.0]
    sizes = sizes or ["512", "native"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = out_dir or tmp
        Path(out).mkdir(parents=True, exist_ok=True)
        for size in sizes:
            img = image
            if size == "native" and image_arg is None and NATIVE_IMAGE.is_file():
                img = str(NATIVE_IMAGE)  # a half-body photo: the native size is the hard case
            for sec in seconds:
                code = (
                    "import json,sys; from avatar.bench import _one; "
                    f"print('RESULT'+json.dumps(_one({img!r},{audio!r},{sec},{size!r},{out!r},{preset!r})))"
                )
                env = dict(os.environ, GLOG_minloglevel="2")
                proc = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, env=env
                )
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
                if proc.returncode != 0 or not line:
                    raise RuntimeError(
                        f"benchmark run failed ({proc.returncode}):\n{proc.stdout[-1500:]}\n"
                        f"{proc.stderr[-3000:]}"
                    )
                row = json.loads(line[0][6:])
                rows.append(row)
                print(_format([row], header=len(rows) == 1), flush=True)
    return rows


COLUMNS = [
    ("speech", lambda r: f"{r['seconds']:.0f} s"),
    ("output", lambda r: r["size"]),
    ("face", lambda r: f"{r['t_face']:.2f}"),
    ("audio", lambda r: f"{r['t_audio']:.2f}"),
    ("phones", lambda r: f"{r['t_speech']:.2f}"),
    ("motion", lambda r: f"{r['t_motion']:.2f}"),
    ("render", lambda r: f"{r['t_render']:.2f}"),
    ("enc. wait", lambda r: f"{r['t_encode_wait']:.2f}"),
    ("wall s", lambda r: f"{r['wall']:.2f}"),
    ("RTF", lambda r: f"{r['rtf']:.2f}"),
    ("floor s", lambda r: f"{r['floor']:.2f}"),
    ("÷ floor", lambda r: f"{r['ratio']:.2f}"),
    ("ms/frame", lambda r: f"{r['render_ms_per_frame']:.1f}"),
    ("peak RSS MB", lambda r: f"{r['peak_rss_mb']:.0f}"),
]


def _format(rows: list[dict], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| " + " | ".join(c for c, _ in COLUMNS) + " |")
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for r in rows:
        lines.append("| " + " | ".join(f(r) for _, f in COLUMNS) + " |")
    return "\n".join(lines)
