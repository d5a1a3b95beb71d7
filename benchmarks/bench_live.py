"""The live avatar in real time: sustained fps, stalls, sound-to-mouth latency, visemes.

    python benchmarks/bench_live.py                   # 5 minutes, 512², 25 fps
    python benchmarks/bench_live.py --seconds 60

A feeder thread pushes 20 ms chunks of speech at real-time pace (espeak-ng sentences
with pauses between them, so the phone timings are exact), while this thread takes the
frames as ``frames()`` yields them. Reported: frames per second over the run, the longest
gap between two frames, the latency from a sample's push to the first frame showing it
(median, 95th percentile, max), and the viseme accuracy of the live mouth (closed at
p/b/m, open at open vowels), beside the offline path's on the same audio.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO.parent / "shared" / "data" / "portraits" / "cc0_codait_luciano.png"
SENTENCES = [
    "Bob bought a big map of Paris.",
    "My mother makes the best apple pie.",
    "Please pass me a bottle of water.",
    "A bad man may grab a cab.",
    "Maybe the baby wants more milk.",
    "The puppy jumped up on my lap.",
]
CHUNK_S = 0.02
PAUSE_S = 0.6


def speech_with_phones(seconds: float):
    """(samples, [(phone, start, end)]) of espeak-ng sentences and pauses, ``seconds`` long."""
    from avatar.speech.tts import synthesize

    parts, phones, t = [], [], 0.0
    i = 0
    while t < seconds:
        result = synthesize(SENTENCES[i % len(SENTENCES)], voice="en-us")
        x = result.speech.samples.astype(np.float32)
        for s in result.phones.segments:
            # a reduced vowel (schwa) is an AH in ARPAbet but mid-central, not open
            phones.append(("schwa" if s.reduced else s.phone, t + s.start, t + s.end))
        parts += [x, np.zeros(int(PAUSE_S * 16000), np.float32)]
        t += len(x) / 16000 + PAUSE_S
        i += 1
    return np.concatenate(parts), phones


def viseme_accuracy(jaw: np.ndarray, fps: float, phones, closed_at: float, open_at: float):
    """(closed share at p/b/m centres, open share at open-vowel centres)."""
    from avatar.speech.visemes import BILABIALS, OPEN_VOWELS

    closed, opened = [], []
    for phone, start, end in phones:
        k = int((start + end) / 2 * fps)
        if k >= len(jaw):
            continue
        if phone in BILABIALS:
            closed.append(jaw[k] <= closed_at)
        elif phone in OPEN_VOWELS:
            opened.append(jaw[k] >= open_at)
    return float(np.mean(closed)) if closed else float("nan"), (
        float(np.mean(opened)) if opened else float("nan")
    )


def offline_jaw(samples: np.ndarray, fps: float, n: int) -> np.ndarray:
    """The offline path's jaw with acoustic cues only (what live has: no phones)."""
    from avatar.audio.features import compute_features
    from avatar.audio.speech import Speech
    from avatar.motion.mouth import mouth_curves
    from avatar.speech.visemes import VisemeTrack

    features = compute_features(Speech(samples), fps, n)
    track = VisemeTrack(segments=[], source="acoustic", language="en")
    return mouth_curves(track, features, fps, n)["jaw_open"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--fps", type=float, default=25.0)
    a = p.parse_args()
    from avatar.live import LiveAvatar

    samples, phones = speech_with_phones(a.seconds)
    t = time.perf_counter()
    live = LiveAvatar(PORTRAIT, size=a.size, fps=a.fps, seed=0)
    setup = time.perf_counter() - t
    chunk = int(CHUNK_S * 16000)
    jaw_by_sample: list[tuple[int, float]] = []

    def feed() -> None:
        start = time.perf_counter()
        for k, i in enumerate(range(0, len(samples), chunk)):
            delay = start + k * CHUNK_S - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            live.push_audio(samples[i : i + chunk])
        time.sleep(0.5)
        live.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    for _frame in live.frames():
        jaw_by_sample.append((live.last_sample_shown, live.mouth_state["jaw_open"]))
    feeder.join()
    s = live.stats
    elapsed = time.perf_counter() - s.started
    lat = np.array(s.latencies_s)

    # The live jaw per audio frame (what was on screen for each stretch of samples).
    n = int(len(samples) / 16000 * a.fps)
    live_jaw = np.zeros(n)
    for end, jaw in jaw_by_sample:
        k = int(np.ceil(end / (16000 / a.fps))) - 1
        if 0 <= k < n:
            live_jaw[k] = jaw
    off = offline_jaw(samples, a.fps, n)
    thresholds = (0.08, 0.2)
    live_acc = viseme_accuracy(live_jaw, a.fps, phones, *thresholds)
    off_acc = viseme_accuracy(off, a.fps, phones, *thresholds)

    print(f"\nlive avatar, {a.size}² at {a.fps:g} fps, {elapsed:.0f} s of real-time speech")
    print(f"set-up (portrait analysis, warm-up)  {setup:.2f} s")
    print(f"frames per second, sustained         {s.frames / elapsed:.2f}")
    print(f"ticks skipped                        {s.skipped}")
    print(f"late mouth frames dropped            {s.caught_up}")
    print(f"longest gap between frames           {1000 * s.max_interval_s:.0f} ms")
    print(
        f"sound-to-mouth latency median/p95/max {1000 * np.median(lat):.0f} / "
        f"{1000 * np.percentile(lat, 95):.0f} / {1000 * lat.max():.0f} ms"
    )
    print(
        f"visemes, live:    closed at p/b/m {100 * live_acc[0]:.0f} %, open at open vowels "
        f"{100 * live_acc[1]:.0f} %"
    )
    print(
        f"visemes, offline (acoustic cues): closed {100 * off_acc[0]:.0f} %, open "
        f"{100 * off_acc[1]:.0f} %"
    )


if __name__ == "__main__":
    main()
