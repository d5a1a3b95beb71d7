"""A real browser (Debian's chromium, driven by Playwright) uses the web app like a person.

On an app started for this module (so its example cache starts empty): the example is
clicked on a fresh page and again once it is cached; a portrait and a voice-over are
uploaded and generated; a typed script is spoken and generated; a render is cancelled
half-way; the video is downloaded. Each state is checked as a person sees it (the
``<video>`` plays for as long as the voice, nothing reads "Error", the summary and the
motion plot are there) and saved as a screenshot under ``out/app-screenshots``. Every
request the page makes must stay on localhost.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.app.conftest import start_app, stop_app
from tests.conftest import shared

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("AVATAR_SCREENSHOT_DIR", REPO / "out" / "app-screenshots"))
EXAMPLE_VOICE = REPO / "examples" / "voiceover.flac"
FPS = 25.0

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

VIDEO_READY = """() => {
    const v = document.querySelector('#result-video video');
    return v && v.readyState >= 1 && isFinite(v.duration) && v.duration > 0;
}"""


def _local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname in ("127.0.0.1", "localhost", "::1")


def _audio_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    pytest.importorskip("gradio")
    server = start_app(tmp_path_factory.mktemp("browser-app"))
    yield server
    stop_app(server)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class Visit:
    """One visitor's tab: requests kept on localhost, console errors collected."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1100})
        self.outside: list[str] = []
        self.console_errors: list[str] = []
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()
        self.page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )
        self.page.goto(url, wait_until="networkidle")
        self.page.locator("#generate").wait_for(state="visible", timeout=30_000)

    def _guard(self, route):
        if _local(route.request.url):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot: {path}")
        return path

    def errors_shown(self) -> int:
        """Elements that read "Error" (gradio's failed-output badge, an error toast)."""
        return self.page.get_by_text(re.compile(r"^\s*Error\s*$")).count()

    def wait_for_video(self, timeout_ms: int = 180_000) -> float:
        self.page.wait_for_function(VIDEO_READY, timeout=timeout_ms)
        return self.page.evaluate("document.querySelector('#result-video video').duration")

    def assert_result_shown(self, audio_seconds: float) -> str:
        """The video is the voice's length (within a frame), summary and plot are there,
        nothing reads "Error"; returns the summary's text."""
        duration = self.wait_for_video()
        assert abs(duration - audio_seconds) <= 1 / FPS + 0.02, (duration, audio_seconds)
        self.page.locator("#motion-plot img").wait_for(state="visible", timeout=15_000)
        natural = self.page.evaluate("document.querySelector('#motion-plot img').naturalWidth")
        assert natural > 100  # the plot's picture really loaded
        summary = self.page.locator("#summary")
        summary.get_by_text("Done:").wait_for(timeout=15_000)
        self.page.locator("#download").wait_for(state="visible", timeout=15_000)
        assert self.errors_shown() == 0
        # let the video paint a frame in the middle before a screenshot is taken
        self.page.evaluate(
            "(() => { const v = document.querySelector('#result-video video');"
            " v.currentTime = v.duration / 2; })()"
        )
        self.page.wait_for_timeout(400)
        return summary.inner_text()

    def close(self) -> None:
        assert self.outside == [], f"requests left localhost: {self.outside}"
        noise = ("Failed to load resource",)
        errors = [e for e in self.console_errors if not any(n in e for n in noise)]
        assert errors == [], errors
        self.context.close()


def _download(visit: Visit, expected_name: str, audio_seconds: float) -> Path:
    from avatar.video import probe_video

    with visit.page.expect_download() as download:
        visit.page.locator("#download").click()
    assert download.value.suggested_filename == expected_name
    saved = SHOTS / download.value.suggested_filename
    SHOTS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(saved)
    info = probe_video(saved)  # an mp4 that plays: H.264 + AAC, as long as the voice
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration - audio_seconds) <= 1 / FPS + 0.03
    assert info.n_frames == pytest.approx(audio_seconds * FPS, abs=1)
    return saved


def _click_example(visit: Visit) -> None:
    visit.page.locator("#examples").get_by_text("voiceover.flac").click()


def test_the_example_plays_on_first_click_and_from_the_cache(browser, fresh_app):
    seconds = _audio_seconds(EXAMPLE_VOICE)
    first = Visit(browser, fresh_app.url)
    first.shot("app_fresh")
    t0 = time.perf_counter()
    _click_example(first)
    made = first.assert_result_shown(seconds)
    print(f"example made and shown in {time.perf_counter() - t0:.1f} s")
    first.shot("app_example_first_click")
    _download(first, "talking_portrait.mp4", seconds)
    first.close()
    assert "Caching examples" in fresh_app.log()
    assert "Traceback" not in fresh_app.log() and "Error" not in fresh_app.log()

    second = Visit(browser, fresh_app.url)  # another visitor: the example comes from the cache
    t0 = time.perf_counter()
    _click_example(second)
    cached = second.assert_result_shown(seconds)
    print(f"cached example shown in {time.perf_counter() - t0:.1f} s")
    second.shot("app_example_cached")
    assert cached == made  # the very same outputs ("made in N s" included): not re-rendered
    assert fresh_app.log().count("Caching examples") == 1
    second.close()


def test_upload_generate_and_download(browser, fresh_app):
    portrait = shared("portraits/cc0_codait_luciano.png")
    voice = shared("speech/en_male_clean_voicebank_p287_003.wav")
    visit = Visit(browser, fresh_app.url)
    page = visit.page
    page.locator("#portrait input[type=file]").set_input_files(str(portrait))
    page.locator("#face-preview img").wait_for(state="visible", timeout=30_000)
    page.get_by_text("Face found").wait_for(timeout=30_000)
    page.locator("#voice-over input[type=file]").set_input_files(str(voice))
    page.get_by_text("Voice-over: 7.2 s").wait_for(timeout=30_000)
    visit.shot("app_inputs")

    page.locator("#generate").click()
    try:
        page.get_by_text("(step ").first.wait_for(timeout=20_000)
        visit.shot("app_progress")
    except Exception:  # noqa: BLE001 - a fast machine may finish before a progress frame is seen
        pass
    visit.assert_result_shown(_audio_seconds(voice))
    visit.shot("app_result")
    _download(visit, "talking_cc0_codait_luciano.mp4", _audio_seconds(voice))
    visit.close()


def test_a_typed_script_is_spoken_and_animated(browser, fresh_app):
    pytest.importorskip("avatar.speech.tts")
    from avatar.speech.tts import is_available

    if not is_available():
        pytest.skip("espeak-ng is not installed")
    visit = Visit(browser, fresh_app.url)
    page = visit.page
    page.locator("#portrait input[type=file]").set_input_files(
        str(shared("portraits/pd_grace_hopper_us_navy.jpg"))
    )
    page.get_by_text("Face found").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Type a script").click()
    page.locator("#script textarea").fill("Hello! This portrait speaks the words you type.")
    page.get_by_role("button", name="Preview speech").click()
    page.locator(
        "#speech-preview audio, #speech-preview [data-testid='waveform-x']"
    ).first.wait_for(state="attached", timeout=30_000)
    visit.shot("app_script")
    page.locator("#generate").click()
    duration = visit.wait_for_video()
    saved = _download(visit, "talking_pd_grace_hopper_us_navy.mp4", duration)
    # the page's video, the downloaded file and the spoken script are all as long
    assert 1.5 < duration < 6.0, duration
    assert saved.stat().st_size > 10_000
    visit.assert_result_shown(duration)
    visit.shot("app_script_result")
    visit.close()


def test_cancel_stops_a_render_half_way(browser, fresh_app):
    visit = Visit(browser, fresh_app.url)
    page = visit.page
    page.locator("#portrait input[type=file]").set_input_files(
        str(shared("portraits/pd_obama_official_portrait_2012_halfbody.jpg"))
    )
    page.get_by_text("Face found").wait_for(timeout=30_000)
    page.locator("#voice-over input[type=file]").set_input_files(
        str(shared("speech/en_female_librispeech_198-209-0000.ogg"))
    )
    page.get_by_text("Voice-over: 13.9 s").wait_for(timeout=30_000)
    page.locator("#generate").click()
    page.get_by_text("Rendering").first.wait_for(timeout=60_000)
    log_start = len(fresh_app.log())
    page.locator("#cancel").click()  # at once: on a loaded machine a screenshot first took
    visit.shot("app_cancelling")  # long enough for the 13.9 s render to finish uncancelled
    deadline = time.time() + 30
    while "generation cancelled" not in fresh_app.log()[log_start:] and time.time() < deadline:
        time.sleep(0.2)  # the worker stops at its next progress report
    assert "generation cancelled" in fresh_app.log()[log_start:]
    page.wait_for_timeout(500)
    visit.shot("app_cancelled")
    assert page.evaluate("document.querySelector('#result-video video')") is None  # no video
    assert not page.locator("#download").is_visible()
    page.locator("#summary").get_by_text("Cancelled:").wait_for(timeout=10_000)
    assert visit.errors_shown() == 0
    # the page still works: the next Generate makes the video
    page.locator("#generate").click()
    visit.assert_result_shown(
        _audio_seconds(shared("speech/en_female_librispeech_198-209-0000.ogg"))
    )
    visit.close()
