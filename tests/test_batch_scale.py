"""`avatar batch` at scale: a local process pool, a local Ray instance, outputs on S3 (moto's
server on 127.0.0.1), killed workers, and every up-front failure as one line per row."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from avatar.speech.espeak import espeak_available
from avatar.video import probe_video
from tests.batch_support import write_csv
from tests.conftest import shared

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="libespeak-ng is not installed (apt-get install espeak-ng)"
)
FACTORY = "tests.batch_support:DyingWorker"


def _rows(*texts, bad_image=False):
    image = str(shared("portraits/cc0_codait_luciano.png"))
    rows = [
        {"image": image, "text": text, "output": f"v{i}.mp4", "size": "128"}
        for i, text in enumerate(texts, start=1)
    ]
    if bad_image:
        rows.insert(2, {"image": "nobody.png", "text": "Hello.", "output": "bad.mp4"})
    return rows


@pytest.fixture
def markers(tmp_path, monkeypatch):
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("AVATAR_TEST_MARKERS", str(folder))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on 127.0.0.1 with a bucket 'videos'; stopped after the test."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="videos")
    yield client
    server.stop()


def test_local_pool_renders_in_two_processes_and_retries_a_killed_worker(tmp_path, markers):
    from avatar.batch import run_batch

    jobs = write_csv(
        tmp_path / "jobs.csv",
        _rows("Bob bought a map.", "Please die once, then speak.", "A cab.", "We die always.",
              bad_image=True),
    )  # fmt: skip
    out = tmp_path / "out"
    report = run_batch(jobs, out, quiet=True, workers=2, worker_factory=FACTORY)
    status = {r.output: r for r in report.rows}
    assert [r.row for r in report.rows] == [1, 2, 3, 4, 5]
    assert status["bad.mp4"].status == "failed" and "nobody.png" in status["bad.mp4"].message
    assert status["v4.mp4"].status == "failed" and "twice" in status["v4.mp4"].message
    for name in ("v1.mp4", "v2.mp4", "v3.mp4"):  # v2's worker died once: tried again
        assert status[name].status == "done", status[name]
        info = probe_video(out / name)
        assert info.video_codec == "h264" and (info.width, info.height) == (128, 128)
    assert len({r.worker for r in report.rows if r.status == "done"}) >= 2
    mode = (out / "v1.mp4").stat().st_mode & 0o777
    assert mode & 0o044 == 0o044  # readable by others, as a file written normally
    assert sorted(p.name for p in out.iterdir()) == [
        ".v1.mp4.hash", ".v2.mp4.hash", ".v3.mp4.hash", "v1.mp4", "v2.mp4", "v3.mp4",
    ]  # fmt: skip
    assert "3 made, 0 already up to date, 2 failed (2 local processes" in report.table()


def test_ray_batch_to_s3_skips_on_rerun_and_survives_a_killed_worker(
    tmp_path, markers, s3, monkeypatch
):
    if importlib.util.find_spec("ray") is None:  # not imported here: the batch starts Ray
        pytest.skip("ray is not installed")
    from avatar.batch import run_batch

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    jobs = write_csv(
        tmp_path / "jobs.csv",
        _rows("Bob bought a map.", "Please die once, then speak.", "A cab.", bad_image=True),
    )
    url = "s3://videos/batch/run1"
    report = run_batch(jobs, url, quiet=True, ray="auto", worker_factory=FACTORY)
    assert [r.status for r in report.rows] == ["done", "done", "failed", "done"], report.table()
    assert "nobody.png" in report.rows[2].message
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="videos")["Contents"])
    assert keys == [
        "batch/run1/.v1.mp4.hash", "batch/run1/.v2.mp4.hash", "batch/run1/.v3.mp4.hash",
        "batch/run1/v1.mp4", "batch/run1/v2.mp4", "batch/run1/v3.mp4",
    ]  # fmt: skip
    body = s3.get_object(Bucket="videos", Key="batch/run1/v2.mp4")["Body"].read()
    video = tmp_path / "v2.mp4"
    video.write_bytes(body)
    assert probe_video(video).audio_codec == "aac"

    again = run_batch(jobs, url, quiet=True, ray="auto", worker_factory=FACTORY)
    assert [r.status for r in again.rows] == ["skipped", "skipped", "failed", "skipped"]


def test_unwritable_bucket_fails_every_row_before_rendering(tmp_path, s3):
    from avatar.batch import run_batch

    jobs = write_csv(tmp_path / "jobs.csv", _rows("Hello.", "Bye."))
    report = run_batch(jobs, "s3://no-such-bucket/out", quiet=True)
    assert [r.status for r in report.rows] == ["failed", "failed"]
    for r in report.rows:
        assert r.message.startswith("Cannot write to s3://no-such-bucket/out:")
        assert r.seconds == 0.0  # known up front: nothing rendered


def test_repeated_output_names_and_bad_values_are_reported_up_front(tmp_path):
    from avatar.batch import run_batch

    image = str(shared("portraits/cc0_codait_luciano.png"))
    jobs = write_csv(
        tmp_path / "jobs.csv",
        [
            {"image": image, "text": "Hi.", "output": "same.mp4", "size": "bad"},
            {"image": image, "text": "Hi.", "output": "same", "size": "128"},
            {"image": image, "text": "Hi.", "output": "same.mp4", "size": "128"},
        ],
    )
    report = run_batch(jobs, tmp_path / "out", quiet=True)
    assert report.rows[0].message == "'bad' is not a valid value for size."
    assert report.rows[1].status == "done"
    assert report.rows[2].message == "Row 2 already writes same.mp4."


def test_unreachable_ray_address_is_one_sentence(tmp_path, capsys, monkeypatch):
    from avatar.cli import main

    jobs = write_csv(tmp_path / "jobs.csv", _rows("Hello."))
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{_free_port()}")
    code = main(["batch", str(jobs), "--out", str(tmp_path / "out"), "--ray", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Cannot reach the Ray cluster at 127.0.0.1:" in lines[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_inputs_by_url_reach_the_worker(tmp_path, s3):
    """Images and voice-overs named by s3:// URLs are fetched by the worker itself."""
    from scipy.io import wavfile

    from avatar.batch import run_batch
    from avatar.speech.tts import synthesize

    image = shared("portraits/cc0_codait_luciano.png")
    s3.put_object(Bucket="videos", Key="in/face.png", Body=image.read_bytes())
    wav = tmp_path / "voice.wav"
    wavfile.write(wav, 16000, synthesize("Maybe the baby wants milk.").speech.samples)
    s3.put_object(Bucket="videos", Key="in/voice.wav", Body=wav.read_bytes())
    jobs = write_csv(
        tmp_path / "jobs.csv",
        [
            {"image": "s3://videos/in/face.png", "audio": "s3://videos/in/voice.wav",
             "output": "from_s3.mp4", "size": "128"},
            {"image": "s3://videos/in/nobody.png", "text": "Hi.", "output": "x.mp4"},
        ],
    )  # fmt: skip
    report = run_batch(jobs, tmp_path / "out", quiet=True, workers=1)
    assert [r.status for r in report.rows] == ["done", "failed"], report.table()
    assert report.rows[1].message == "The image s3://videos/in/nobody.png does not exist."
    assert probe_video(tmp_path / "out" / "from_s3.mp4").audio_codec == "aac"
