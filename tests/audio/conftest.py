"""Fixtures for the audio tests: the shared real speech files and an ffmpeg to transcode them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SPEECH = DATA / "speech"
VIDEOS = DATA / "videos"


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    return get_ffmpeg_exe()


@pytest.fixture(scope="session")
def data_file():
    """Path of a file under shared/data; skips cleanly when the data is not checked out."""

    def get(relative: str) -> Path:
        path = DATA / relative
        if not path.is_file():
            pytest.skip(f"shared data file {relative} is not available")
        return path

    return get


@pytest.fixture
def transcode(ffmpeg: str, tmp_path: Path):
    """Make a variant of a real file in another format, at test time (never committed)."""

    def run(source: Path, suffix: str, *args: str) -> Path:
        out = tmp_path / f"{source.stem}{suffix}"
        cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *args, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        return out

    return run


@pytest.fixture
def make_wav(tmp_path: Path):
    """Write a float32 WAV from samples shaped (n,) or (n, channels)."""
    from scipy.io import wavfile

    def write(name: str, samples: np.ndarray, rate: int = 16000) -> Path:
        path = tmp_path / name
        wavfile.write(path, rate, np.ascontiguousarray(samples, dtype=np.float32))
        return path

    return write
