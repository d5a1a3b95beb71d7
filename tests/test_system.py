"""`avatar info` and requirements-gpu.txt: what an install uses, and what a GPU adds."""

from __future__ import annotations

import json
import re

import pytest

from avatar import system
from avatar.cli import main
from tests.conftest import REPO


def test_capabilities_on_a_cpu_machine_say_what_runs_instead():
    torch = pytest.importorskip("torch")
    found = {c.name: c for c in system.capabilities()}
    assert list(found)[:3] == ["PyTorch", "CUDA GPU", "xformers"]
    assert found["PyTorch"].active and torch.__version__ in found["PyTorch"].detail
    if not torch.cuda.is_available():
        assert not found["CUDA GPU"].active
        assert not found["xformers"].active and "SDPA" in found["xformers"].detail
    assert all(c.detail and "\n" not in c.detail for c in found.values())


def test_xformers_counts_only_with_a_gpu(monkeypatch):
    from avatar.motion.diffusion import attention

    monkeypatch.setattr(system, "_version", lambda name: "0.0.35")
    monkeypatch.setattr(attention, "xformers_installed", lambda: True)
    on_gpu = system._xformers(cuda=True)
    assert on_gpu.active and "motion model's attention" in on_gpu.detail
    on_cpu = system._xformers(cuda=False)
    assert not on_cpu.active and "unused without a CUDA GPU" in on_cpu.detail
    monkeypatch.setattr(attention, "xformers_installed", lambda: False)
    assert "does not import" in system._xformers(cuda=True).detail


def test_avatar_info_prints_a_line_per_part_and_json(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"PyTorch\s+yes\s+\d", lines[0]), lines
    assert any(re.match(r"xformers\s+(yes|no)\s", line) for line in lines)
    assert main(["info", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert {"name", "active", "detail"} == set(items[0])
    assert len(items) == len(lines)


def test_requirements_gpu_adds_a_cuda_torch_of_the_tested_release_and_xformers():
    text = (REPO / "requirements-gpu.txt").read_text()
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    index = [ln for ln in lines if ln.startswith("--extra-index-url")]
    assert len(index) == 1
    cuda_tag = index[0].rsplit("/", 1)[-1]
    torch_pin = next(ln for ln in lines if ln.startswith("torch=="))
    assert torch_pin.endswith(f"+{cuda_tag}")  # the index and the build agree
    pyproject = (REPO / "pyproject.toml").read_text()
    tested = re.search(r'"torch==([\d.]+)"', pyproject).group(1)
    assert torch_pin == f"torch=={tested}+{cuda_tag}"  # the release the tests run
    assert any(ln.startswith("xformers") for ln in lines)


def test_requirements_gpu_holds_opencv_python_to_mediapipes_opencv_release():
    """face-alignment asks for opencv-python; unpinned it would take a numpy-2 build."""
    gpu = (REPO / "requirements-gpu.txt").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    contrib = re.search(r'"opencv-contrib-python(>=[^"]+)"', pyproject).group(1)
    assert re.search(rf"^opencv-python{re.escape(contrib)}$", gpu, re.M)
    assert re.search(r"^face-alignment==", gpu, re.M)
