"""`python app.py` on a free port for a benchmark: started, waited for, stopped."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The app's ready line: its own start-up seconds and the model warm-up seconds.
READY = re.compile(r"ready on \S+ in ([\d.]+) s \(models loaded in ([\d.]+) s\)")


@dataclass
class RunningApp:
    proc: subprocess.Popen
    url: str
    ready_s: float  # from launch until the ready line is printed and the page is served
    app_ready_s: float  # the app's own figure from its ready line
    warm_up_s: float  # model warm-up, from the ready line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(
    log_path: Path, env: dict[str, str] | None = None, timeout_s: float = 180.0
) -> Iterator[RunningApp]:
    """Start the app with ``env`` added to the environment, logging to ``log_path``."""
    port = free_port()
    full_env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            text = log_path.read_text(errors="replace")
            if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                raise SystemExit(f"the app did not start:\n{text[-2000:]}")
            match = READY.search(text)
            if match:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            time.sleep(0.05)
        ready = time.perf_counter() - t0
        yield RunningApp(proc, url, ready, float(match[1]), float(match[2]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
