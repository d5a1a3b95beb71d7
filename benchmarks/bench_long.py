"""A 10-minute voice-over through the CLI and through the web app: wall time and peak memory.

    python benchmarks/bench_long.py                    # 600 s at 512² (the app's default framing)
    python benchmarks/bench_long.py --seconds 600 --size 256 --only cli

The voice-over is made in a temporary folder by looping the English clips of
shared/data/speech. Peak RSS is the largest sum, over 0.2 s polls, of the
resident memory of the process and all its children (the ffmpeg encoder
and decoders). Linux only (/proc). Target: under 2 GB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from app_process import running_app

REPO = Path(__file__).resolve().parents[1]
SPEECH = REPO.parent / "shared" / "data" / "speech"
CLIPS = [
    "en_female_ljspeech_LJ028-0030_to_0039_long72s.flac",
    "en_male_jfk_inaugural_1961.flac",
    "en_male_clean_voicebank_p287_003.wav",
    "en_female_librispeech_198-209-0000.ogg",
]


def make_voiceover(seconds: float, folder: Path) -> Path:
    """English clips decoded to 16 kHz mono and looped to ``seconds``, as a WAV."""
    from scipy.io import wavfile

    sys.path.insert(0, str(REPO))
    from avatar.audio import load_audio

    parts = [
        load_audio(SPEECH / c, max_seconds=3600).samples for c in CLIPS if (SPEECH / c).is_file()
    ]
    if not parts:
        raise SystemExit(f"no speech clips found in {SPEECH}")
    one = np.concatenate(parts)
    x = np.tile(one, int(np.ceil(seconds * 16000 / len(one))))[: int(seconds * 16000)]
    path = folder / f"voiceover_{int(seconds)}s.wav"
    wavfile.write(path, 16000, (np.clip(x, -1, 1) * 32767).astype("<i2"))
    return path


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class PeakRSS:
    """Polls a process tree's RSS in a thread until stopped; ``peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_cli(image: Path, audio: Path, size: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "avatar.cli", "generate", "--image", str(image)]
    cmd += ["--audio", str(audio), "-o", str(out), "--size", str(size), "--overwrite", "-q"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    meter = PeakRSS(proc.pid)
    stdout, stderr = proc.communicate()
    peak = meter.stop()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"CLI failed: {stderr.decode()[-2000:]}")
    return {"wall_s": wall, "peak_rss_mb": peak / 2**20, "stdout": stdout.decode().strip()}


def run_app(image: Path, audio: Path, seconds: float, work: Path) -> dict:
    from gradio_client import Client, handle_file

    env = {
        "GRADIO_TEMP_DIR": str(work / "gradio"),
        "AVATAR_APP_MAX_AUDIO_SECONDS": str(seconds + 5),
    }
    with running_app(work / "app.log", env) as app:
        idle = _tree_rss(app.proc.pid)
        client = Client(app.url, verbose=False)
        meter = PeakRSS(app.proc.pid)
        t0 = time.perf_counter()
        video, _, summary = client.predict(
            image=handle_file(str(image)), audio=handle_file(str(audio)), api_name="/generate"
        )
        wall = time.perf_counter() - t0
        peak = meter.stop()
        after = _tree_rss(app.proc.pid)
    return {
        "wall_s": wall,
        "peak_rss_mb": peak / 2**20,
        "idle_rss_mb": idle / 2**20,
        "after_rss_mb": after / 2**20,
        "summary": summary.splitlines()[0],
        "video": video,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--size", type=int, default=512, help="face crop (the app's default is 512)")
    p.add_argument("--image", default=str(REPO / "examples" / "portrait.png"))
    p.add_argument("--only", choices=["cli", "app"], default=None)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        audio = make_voiceover(a.seconds, work)
        print(f"voice-over: {a.seconds:.0f} s ({audio.stat().st_size / 2**20:.1f} MB WAV) made in "
              f"{time.perf_counter() - t:.1f} s; portrait {Path(a.image).name}, {a.size}²; "
              f"{os.cpu_count()} CPU cores", flush=True)  # fmt: skip
        if a.only in (None, "cli"):
            r = run_cli(Path(a.image), audio, a.size, work / "cli.mp4")
            print(f"CLI: {r['wall_s']:.1f} s wall, peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(process + ffmpeg) -- {r['stdout']}", flush=True)  # fmt: skip
        if a.only in (None, "app"):
            if a.size != 512:
                print("app: renders at its default framing, 512²", flush=True)
            r = run_app(Path(a.image), audio, a.seconds, work)
            print(f"app: {r['wall_s']:.1f} s wall (upload to download), peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB (idle {r['idle_rss_mb']:.0f} MB, after "
                  f"{r['after_rss_mb']:.0f} MB) -- {r['summary']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
