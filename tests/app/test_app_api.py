"""The web app's `/generate` API through gradio_client, against `python app.py` on localhost."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from avatar.video import probe_video  # noqa: E402

SHORT_VOICE = "speech/en_male_clean_voicebank_p287_003.wav"  # 7.23 s


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def _assert_valid_mp4(path, audio_seconds: float, fps: float = 25.0, size=None):
    info = probe_video(path)
    assert info.video_codec == "h264"
    assert info.pixel_format == "yuv420p"
    assert info.audio_codec == "aac"
    assert info.duration is not None
    assert abs(info.duration - audio_seconds) <= 1.0 / fps + 0.03, (info.duration, audio_seconds)
    assert abs(info.n_frames - round(audio_seconds * fps)) <= 1
    if size is not None:
        assert (info.width, info.height) == size
    return info


def test_app_says_it_is_ready_only_with_its_models_warm(app_server):
    # Start-up time is measured by benchmarks/bench_app_start.py, not asserted here.
    ready = re.search(
        r"ready on \S+ in ([\d.]+) s \(models loaded in ([\d.]+) s\)", app_server.log()
    )
    assert ready, app_server.log()[-2000:]
    assert float(ready[2]) > 0.0  # the warm-up really ran before the ready line


def test_only_generate_is_documented(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/generate"]
    names = [p["parameter_name"] for p in api["named_endpoints"]["/generate"]["parameters"]]
    assert names[:2] == ["image", "audio"]
    assert {"preset", "framing", "fps", "seed", "face_index", "head_motion"} <= set(names)


def test_generate_returns_a_playable_mp4_of_the_audio_duration(client):
    voice = shared(SHORT_VOICE)
    video, plot, summary = client.predict(
        image=handle_file(str(shared("portraits/cc0_codait_luciano.png"))),
        audio=handle_file(str(voice)),
        api_name="/generate",
    )
    _assert_valid_mp4(video, 7.2321875, size=(512, 512))
    with Image.open(plot) as picture:  # the motion plot comes as a PNG file
        assert picture.format == "PNG" and picture.size == (800, 540)
    assert summary.startswith("**Done:** 512×512, 181 frames at 25 fps")


def test_two_users_at_once_each_get_their_own_video(client, app_server):
    jobs = {
        # portrait (its full-photo size) and voice-over (its duration)
        "luciano": ("portraits/cc0_codait_luciano.png", (400, 400), SHORT_VOICE, 7.2321875),
        "collins": (
            "portraits/pd_eileen_collins_nasa.png",
            (512, 512),
            "speech/zh_female_aishell1_BAC009S0764W0121.wav",
            4.2039375,
        ),
    }
    results: dict[str, object] = {}
    spans: dict[str, tuple[float, float]] = {}

    def run(name):
        image, _, audio, _ = jobs[name]
        own = Client(app_server.url, verbose=False)  # a separate session, like a second browser
        t0 = time.perf_counter()
        try:
            results[name] = own.predict(
                image=handle_file(str(shared(image))),
                audio=handle_file(str(shared(audio))),
                framing="Full photo",
                seed=7,
                api_name="/generate",
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            results[name] = exc
        spans[name] = (t0, time.perf_counter())

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    videos = set()
    for name, (_, size, _, seconds) in jobs.items():
        result = results[name]
        assert not isinstance(result, Exception), result
        video = result[0]
        _assert_valid_mp4(video, seconds, size=size)
        videos.add(video)
    assert len(videos) == 2
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 and b0 < a1  # the two requests were in flight together


def _error_of(client, **kwargs) -> str:
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        client.predict(api_name="/generate", **kwargs)
    message = str(info.value)
    assert "Traceback" not in message and "show_error" not in message, message
    return message


def test_bad_inputs_get_one_clear_sentence(client, tmp_path, app_server):
    voice = handle_file(str(shared(SHORT_VOICE)))
    portrait = handle_file(str(shared("portraits/cc0_codait_luciano.png")))

    blank = tmp_path / "no_face.png"
    gradient = np.linspace(0, 255, 256 * 256 * 3).reshape(256, 256, 3).astype(np.uint8)
    Image.fromarray(gradient).save(blank)
    assert "No face was found" in _error_of(client, image=handle_file(str(blank)), audio=voice)

    text = tmp_path / "notes.txt"
    text.write_text("not a photo, not a sound\n" * 20)
    message = _error_of(client, image=handle_file(str(text)), audio=voice)
    assert message.startswith("The portrait is not an image file that can be read")

    message = _error_of(client, image=portrait, audio=handle_file(str(text)))
    assert "notes.txt" in message and ("not an audio file" in message or "no sound" in message)

    long_voice = handle_file(
        str(shared("speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac"))
    )
    message = _error_of(client, image=portrait, audio=long_voice)
    assert "the limit is 30 seconds" in message and "use a shorter clip" in message
    assert "--" not in message  # no command-line flags on the web page

    assert _error_of(client, image=portrait, audio=None).startswith("Add a voice-over first")
    log = app_server.log()  # expected errors are not logged as crashes
    assert "Traceback" not in log, log[-3000:]

    # Out-of-range widget values are refused by gradio's own validation, also in one line.
    assert "-3 is less than minimum value 0" in _error_of(
        client, image=portrait, audio=voice, seed=-3
    )


def test_cancel_stops_the_render(client, app_server):
    job = client.submit(
        image=handle_file(str(shared("portraits/pd_eileen_collins_nasa.png"))),
        audio=handle_file(str(shared("speech/en_male_jfk_inaugural_1961.flac"))),
        framing="Face crop 768 × 768",
        preset="quality",
        api_name="/generate",
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        status = job.status()
        if status.progress_data:
            break
        time.sleep(0.1)
    assert job.cancel()
    deadline = time.time() + 15
    while time.time() < deadline and "generation cancelled" not in app_server.log():
        time.sleep(0.2)
    assert "generation cancelled" in app_server.log()
    # The worker is free again: two short requests (the server renders two at once) are
    # processed side by side, instead of one waiting behind the cancelled render.
    from gradio_client.utils import Status

    jobs = [
        Client(app_server.url, verbose=False).submit(
            image=handle_file(str(shared("portraits/cc0_codait_luciano.png"))),
            audio=handle_file(str(shared(SHORT_VOICE))),
            preset="fast",
            seed=seed,
            api_name="/generate",
        )
        for seed in (1, 2)
    ]
    started: dict[int, float] = {}
    finished: dict[int, float] = {}
    deadline = time.time() + 60
    while time.time() < deadline and len(finished) < len(jobs):
        for i, j in enumerate(jobs):
            if i not in started and j.status().code in (Status.PROCESSING, Status.PROGRESS):
                started[i] = time.perf_counter()
            if i not in finished and j.done():
                finished[i] = time.perf_counter()
        time.sleep(0.02)
    for j in jobs:
        _assert_valid_mp4(j.result(timeout=5)[0], 7.2321875)
    assert len(started) == 2, "a request after the cancel was never processed"
    assert max(started.values()) < min(finished.values())  # both were rendering at once


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "huge.wav"
    big.write_bytes(b"\0" * (9 * 1024 * 1024))  # over the test server's 8 MB limit
    portrait = handle_file(str(shared("portraits/cc0_codait_luciano.png")))
    with pytest.raises(Exception, match="(?i)(too large|exceed|413|max)"):
        client.predict(image=portrait, audio=handle_file(str(big)), api_name="/generate")
