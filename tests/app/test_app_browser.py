"""A real browser (Debian's chromium, driven by Playwright) uses the web app like a person.

It uploads a portrait and a voice-over, waits for the face preview, clicks
Generate, waits for the video to play, and saves screenshots (their paths are
printed). Every request the page makes is checked to stay on localhost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import shared

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("AVATAR_SCREENSHOT_DIR", REPO / "out" / "app-screenshots"))

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def _local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname in ("127.0.0.1", "localhost", "::1")


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


def test_upload_generate_and_play_in_the_browser(browser, app_server):
    portrait = shared("portraits/cc0_codait_luciano.png")
    voice = shared("speech/en_male_clean_voicebank_p287_003.wav")
    SHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def guard(route):
        if _local(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(app_server.url, wait_until="networkidle")
    page.locator("#generate").wait_for(state="visible", timeout=30_000)

    page.locator("#portrait input[type=file]").set_input_files(str(portrait))
    page.locator("#face-preview img").wait_for(state="visible", timeout=30_000)
    page.get_by_text("Face found").wait_for(timeout=30_000)

    page.locator("#voice-over input[type=file]").set_input_files(str(voice))
    page.get_by_text("Voice-over: 7.2 s").wait_for(timeout=30_000)
    inputs_shot = SHOTS / "app_inputs.png"
    page.screenshot(path=str(inputs_shot), full_page=True)

    page.locator("#generate").click()
    progress_shot = SHOTS / "app_progress.png"
    try:
        page.get_by_text("(step ").first.wait_for(timeout=20_000)
        page.screenshot(path=str(progress_shot), full_page=True)
    except Exception:  # noqa: BLE001 - a fast machine may finish before a progress frame is seen
        progress_shot = None

    t0 = time.perf_counter()
    page.wait_for_function(
        """() => {
            const v = document.querySelector('#result-video video');
            return v && isFinite(v.duration) && v.duration > 0;
        }""",
        timeout=120_000,
    )
    duration = page.evaluate("document.querySelector('#result-video video').duration")
    assert abs(duration - 7.23) < 0.1, duration
    page.locator("#download").wait_for(state="visible", timeout=10_000)
    with page.expect_download() as download:
        page.locator("#download").click()
    assert download.value.suggested_filename == "talking_cc0_codait_luciano.mp4"
    saved = SHOTS / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.stat().st_size > 10_000
    page.locator("#motion-plot img").wait_for(state="visible", timeout=10_000)
    page.get_by_text("Done:").wait_for(timeout=10_000)
    # Let the video element paint its first frame before the picture is taken.
    page.evaluate("document.querySelector('#result-video video').currentTime = 1.5")
    page.wait_for_timeout(500)
    result_shot = SHOTS / "app_result.png"
    page.screenshot(path=str(result_shot), full_page=True)
    print(f"\nscreenshots: {inputs_shot} {progress_shot or '(no progress frame)'} {result_shot}")
    print(f"video ready {time.perf_counter() - t0:.1f} s after Generate; duration {duration:.2f} s")

    assert outside == [], f"requests left localhost: {outside}"
    assert not [e for e in console_errors if "Failed to load resource" not in e], console_errors
    context.close()
