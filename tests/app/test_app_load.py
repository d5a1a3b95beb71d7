"""The web app under load on localhost: concurrent requests, a full queue, temp files."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from tests.app.conftest import start_app, stop_app
from tests.conftest import shared

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.utils import QueueError  # noqa: E402

from avatar.video import probe_video  # noqa: E402


def _work_root(server) -> Path:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        match = re.search(r"work folder: (\S+)", server.log())
        if match:
            return Path(match.group(1))
        time.sleep(0.1)
    raise AssertionError(server.log()[-2000:])


def _run_all(url: str, jobs: list[dict], timeout: float = 180.0) -> list[object]:
    """Each job from its own client (its own session), all started together."""
    results: list[object] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        client = Client(url, verbose=False)
        start.wait()
        try:
            results[i] = client.predict(api_name="/generate", **jobs[i])
        except Exception as exc:  # noqa: BLE001 - inspected by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


def test_four_concurrent_requests_all_complete(app_server, bad_inputs):
    root = _work_root(app_server)
    before = {p.name for p in root.glob("job-*")}
    portraits = ["portrait", "cmyk", "grey", "rgba"]
    jobs = [
        dict(
            image=handle_file(str(bad_inputs[name])),
            audio=handle_file(str(bad_inputs["speech"])),
            preset="fast",
            seed=i,
        )
        for i, name in enumerate(portraits)
    ]
    t0 = time.perf_counter()
    results = _run_all(app_server.url, jobs)
    wall = time.perf_counter() - t0
    videos = set()
    for result in results:
        assert not isinstance(result, Exception), result
        video, _, summary = result
        info = probe_video(video)
        assert (info.width, info.height, info.n_frames) == (512, 512, 25)
        assert abs(info.audio_duration - 1.0) < 0.05
        assert summary.startswith("**Done:** 512×512, 25 frames")
        videos.add(Path(video).read_bytes())
    assert len(videos) == 4  # four different videos, none mixed up or shared
    print(f"4 concurrent requests in {wall:.1f} s")
    # Each request's folder holds its finished video and plot only: no temporary files.
    new = [p for p in root.glob("job-*") if p.name not in before]
    assert len(new) == 4
    for job in new:
        assert sorted(p.suffix for p in job.iterdir()) == [".mp4", ".png"], list(job.iterdir())


@pytest.fixture(scope="module")
def small_queue_app(tmp_path_factory):
    """One render at a time and one request waiting: the third at once is turned away."""
    pytest.importorskip("gradio")
    server = start_app(
        tmp_path_factory.mktemp("small-queue"),
        AVATAR_APP_CONCURRENCY="1",
        AVATAR_APP_QUEUE_SIZE="1",
    )
    yield server
    stop_app(server)


def test_requests_beyond_the_queue_are_refused_clearly(small_queue_app, bad_inputs):
    assert "renders at once: 1, queue: 1" in small_queue_app.log()
    voice = shared("speech/en_male_clean_voicebank_p287_003.wav")  # 7.2 s: a few seconds each
    jobs = [
        dict(image=handle_file(str(bad_inputs["portrait"])), audio=handle_file(str(voice)), seed=i)
        for i in range(5)
    ]
    results = _run_all(small_queue_app.url, jobs)
    refused = [r for r in results if isinstance(r, Exception)]
    done = [r for r in results if not isinstance(r, Exception)]
    assert refused, "no request was refused"
    assert len(done) >= 2  # the one rendering and the one waiting
    for exc in refused:
        assert isinstance(exc, QueueError), repr(exc)
        assert "Queue is full" in str(exc)
        assert "Traceback" not in str(exc)
    for video, _, _ in done:
        assert probe_video(video).n_frames == 181
    # The server is still healthy: a request after the burst completes.
    client = Client(small_queue_app.url, verbose=False)
    video, _, _ = client.predict(
        image=handle_file(str(bad_inputs["portrait"])),
        audio=handle_file(str(bad_inputs["speech"])),
        preset="fast",
        api_name="/generate",
    )
    assert probe_video(video).n_frames == 25
