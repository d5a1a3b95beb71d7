"""A CLI run killed mid-render (SIGKILL: no cleanup possible) never leaves a file at
the output path; its hidden temporary files are removed by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avatar.cli import main
from tests.conftest import REPO, shared

VOICE = "speech/en_male_clean_voicebank_p287_003.wav"  # 7.2 s: about 2 s of rendering at 512²


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_render_leaves_nothing_at_the_target(tmp_path, bad_inputs, capsys):
    portrait = shared("portraits/cc0_codait_luciano.png")
    out = tmp_path / "talk.mp4"
    cmd = [sys.executable, "-m", "avatar.cli", "generate", "--image", str(portrait)]
    cmd += [
        "--audio",
        str(shared(VOICE)),
        "-o",
        str(out),
        "--size",
        "512",
        "--preset",
        "quality",
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # Rendering has begun once the encoder's temporary file has some frames in it.
        while time.monotonic() < deadline and proc.poll() is None:
            mp4s = [p for p in tmp_path.glob(".talk.mp4.partial-*.mp4") if p.stat().st_size > 0]
            if mp4s:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert mp4s, "rendering never started"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the orphaned encoder sees end-of-input and exits
    assert not out.exists()
    left = _partials(tmp_path)
    assert left and all(name.startswith(".talk.mp4.partial-") for name in left), left
    assert sorted(p.name for p in tmp_path.iterdir()) == left  # nothing else was written

    # The next run for the same output removes what the killed run left behind.
    argv = ["generate", "--image", str(portrait), "--audio", str(bad_inputs["speech"])]
    assert main([*argv, "-o", str(out), "--size", "128", "--preset", "fast", "-q"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4"]
