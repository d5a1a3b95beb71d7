"""Shared test fixtures: the real media in ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PORTRAITS = SHARED_DATA / "portraits"
SPEECH = SHARED_DATA / "speech"
VIDEOS = SHARED_DATA / "videos"


def shared(relative: str) -> Path:
    """A file under shared/data; the test is skipped when the data is not checked out."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file {relative} is not available")
    return path


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory):
    """The files of the bad-input matrix (tests/bad_inputs.py), made once per session."""
    from tests.bad_inputs import make_inputs

    shared("portraits/cc0_codait_luciano.png")
    shared("speech/en_male_clean_voicebank_p287_003.wav")
    return make_inputs(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="session")
def luciano_rig():
    from avatar.face import analyze_portrait

    return analyze_portrait(shared("portraits/cc0_codait_luciano.png"))


def _no_download(*args, **kwargs):
    raise AssertionError(f"a download was attempted: {args[:1]}")


@pytest.fixture(scope="session")
def face_alignment_weights(tmp_path_factory):
    """A torch.hub home holding face-alignment's real S3FD and FAN-4 networks with random
    weights, under the names its first-use download gives them."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("face_alignment")
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    from avatar.face.fan import WEIGHT_FILES

    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(s3fd().state_dict(), folder / WEIGHT_FILES["S3FD face detector"])
    torch.save(FAN(4).state_dict(), folder / WEIGHT_FILES["2D FAN-4 landmarks"])
    return home


@pytest.fixture
def face_alignment_hub(face_alignment_weights, monkeypatch):
    """face-alignment pointed at the random weights; any download attempt fails the test."""
    import face_alignment.utils
    import torch.hub

    monkeypatch.setenv("TORCH_HOME", str(face_alignment_weights))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", _no_download)
    return face_alignment_weights


def hide_package(monkeypatch, package: str) -> None:
    """Make ``import package`` (and its submodules) fail, as when it is not installed."""
    import builtins

    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named '{package}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)


@pytest.fixture
def face_alignment_offline(tmp_path, monkeypatch):
    """face-alignment with nothing downloaded and no network: a first use must fail."""
    pytest.importorskip("face_alignment")
    import urllib.error

    import face_alignment.utils
    import torch.hub

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    home = tmp_path / "torch_home_offline"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", offline)
    return home
