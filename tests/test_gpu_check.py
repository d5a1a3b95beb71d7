"""benchmarks/gpu_check.py runs every path it knows on the CPU at debug size.

On a CPU the CUDA-only variants are skipped with their reason; everything else (the
attention dispatch, the denoiser, Wav2Lip fp32/bf16, the renderer in fp32) really runs,
so the script a GPU machine runs has run here first.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, shared

pytest.importorskip("torch")


def test_gpu_check_runs_on_the_cpu_and_names_what_it_skips():
    shared("portraits/cc0_codait_luciano.png")
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu",
         "--tiny", "--frames", "2", "--repeats", "1"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split("  ")[0].strip(): line for line in out.stdout.splitlines()}
    for path in ("attention sdpa", "motion denoiser, one window (10 steps)", "Wav2Lip fp32",
                 "neural renderer fp32"):  # fmt: skip
        assert path in rows and "FAILED" not in rows[path], out.stdout
        assert float(rows[path].split()[len(path.split())]) > 0  # frames (calls) per second
    assert "skipped: xformers runs on CUDA only" in rows["attention xformers"]
    assert "skipped: fp16 runs on CUDA only" in rows["Wav2Lip fp16"]
