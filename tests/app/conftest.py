"""The web app, started once per test session as `python app.py` on a free localhost port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Voice-overs longer than this are refused by the test server (to test the message quickly).
TEST_MAX_AUDIO_SECONDS = 30
#: Uploads larger than this are refused by the test server.
TEST_MAX_FILE_SIZE = "8mb"


@dataclass
class AppServer:
    url: str
    port: int
    startup_seconds: float
    log_path: Path
    process: subprocess.Popen
    log_file: IO[str] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> AppServer:
    pytest.importorskip("gradio")
    server = start_app(tmp_path_factory.mktemp("app"))
    yield server
    stop_app(server)


def start_app(tmp: Path, **settings: str) -> AppServer:
    """`python app.py` on a free port with the test limits (``settings`` override them)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_TEMP_DIR=str(tmp / "gradio"),
        AVATAR_APP_MAX_AUDIO_SECONDS=str(TEST_MAX_AUDIO_SECONDS),
        AVATAR_APP_CONCURRENCY="2",  # two renders at once, so the concurrency test overlaps them
        AVATAR_APP_MAX_FILE_SIZE=TEST_MAX_FILE_SIZE,
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    env.pop("GRADIO_SERVER_NAME", None)
    log_path = tmp / "app.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed at teardown
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = t0 + 90
    startup = None
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            break
        # Ready: the page is served and the app says its models are loaded.
        if "ready on" in log_path.read_text(errors="replace"):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        startup = time.perf_counter() - t0
                        break
            except OSError:
                pass
        time.sleep(0.1)
    if startup is None:
        proc.kill()
        proc.wait()
        log.close()
        pytest.fail(f"the app did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    print(f"\napp ready on {url} in {startup:.1f} s (log: {log_path})")
    return AppServer(url, port, startup, log_path, proc, log)


def stop_app(server: AppServer) -> None:
    """SIGTERM, as a container stop does; the app must remove its temporary files."""
    match = re.search(r"work folder: (\S+)", server.log())
    proc = server.process
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if server.log_file is not None:
        server.log_file.close()
    # Stopped with SIGTERM, the app removes its temporary files.
    assert match is not None, server.log()[-2000:]
    assert not Path(match.group(1)).exists(), f"{match.group(1)} was left behind"
