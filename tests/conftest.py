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
