"""The bad-input matrix through the web app's `/generate` API (gradio_client, live app).

Each case returns a correct video or raises one ``gr.Error`` sentence (never a
traceback), and no partial video is ever left in the app's work folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from tests.app.conftest import TEST_MAX_AUDIO_SECONDS
from tests.bad_inputs import CASES, LIMIT_SECONDS, upright_face_in

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from avatar.video import probe_video  # noqa: E402

APP_CASES = [c for c in CASES if c.app is not None]


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def work_root(app_server) -> Path:
    match = re.search(r"work folder: (\S+)", app_server.log())
    assert match, app_server.log()[-2000:]
    return Path(match.group(1))


def _job_folders(root: Path) -> set[str]:
    return {p.name for p in root.glob("job-*")}


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial-" in p.name]


def test_the_matrix_limit_is_the_test_servers():
    assert LIMIT_SECONDS == TEST_MAX_AUDIO_SECONDS


@pytest.mark.parametrize("case", APP_CASES, ids=[c.name for c in APP_CASES])
def test_app_bad_input(case, bad_inputs, client, work_root, app_server):
    before = _job_folders(work_root)
    log_start = len(app_server.log())
    kwargs = dict(
        image=handle_file(str(bad_inputs[case.image])),
        audio=handle_file(str(bad_inputs[case.audio])),
        preset="fast",
        face_index=case.face_index,
        api_name="/generate",
    )
    if case.size is None:
        kwargs["framing"] = "Full photo"
    if case.app.kind == "video":
        video, _, summary = client.predict(**kwargs)
        info = probe_video(video)
        assert (info.video_codec, info.audio_codec) == ("h264", "aac")
        if case.size is None:  # the full photo, trimmed to even sides for H.264
            w, h = Image.open(bad_inputs[case.image]).size
            assert (info.width, info.height) == (w - w % 2, h - h % 2)
        else:
            assert (info.width, info.height) == (512, 512)
        assert info.n_frames and info.n_frames >= 4
        assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 0.03
        assert summary.startswith("**Done:**"), summary
        assert case.app.text in summary, summary
        if case.name == "exif_rotated":
            roll, eyes_to_mouth = upright_face_in(Path(video))
            assert abs(roll) < 15 and eyes_to_mouth > 20, (roll, eyes_to_mouth)
    else:
        with pytest.raises(gradio_client.exceptions.AppError) as info:
            client.predict(**kwargs)
        message = str(info.value)
        assert "Traceback" not in message and 'File "' not in message, message
        assert case.app.text in message, message
        assert len(message.splitlines()) == 1, message
        assert _job_folders(work_root) == before  # the failed request's folder is gone
    assert _partials(work_root) == []
    log = app_server.log()[log_start:]
    assert "Traceback" not in log, log[-3000:]  # expected errors are not logged as crashes
