"""How long `python app.py` takes until the page is served and the models are warm.

    python benchmarks/bench_app_start.py            # 3 cold starts
    python benchmarks/bench_app_start.py --runs 5

Each run starts a fresh process on a free port and stops it once the app has printed its
ready line and answers the page. Printed: wall seconds to ready as seen from outside, the
app's own ready time and its model warm-up time (from that line), and the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY = re.compile(r"ready on \S+ in ([\d.]+) s \(models loaded in ([\d.]+) s\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(timeout_s: float = 120.0) -> tuple[float, float, float]:
    """(outside wall s, app's own ready s, model warm-up s) of one cold start."""
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while time.perf_counter() - t0 < timeout_s:
                if proc.poll() is not None:
                    break
                log.seek(0)
                match = READY.search(log.read())
                if match:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                        if r.status == 200:
                            wall = time.perf_counter() - t0
                            return wall, float(match[1]), float(match[2])
                time.sleep(0.05)
            log.seek(0)
            raise SystemExit(f"the app did not start:\n{log.read()[-2000:]}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    print("| run | ready (outside) s | app's ready line s | models warm s | load avg |")
    print("|---|---|---|---|---|")
    walls = []
    for i in range(a.runs):
        wall, ready, warm = one_start()
        walls.append(wall)
        print(f"| {i + 1} | {wall:.1f} | {ready:.1f} | {warm:.1f} | {os.getloadavg()[0]:.1f} |")
    print(f"median {sorted(walls)[len(walls) // 2]:.1f} s over {a.runs} cold starts")


if __name__ == "__main__":
    main()
