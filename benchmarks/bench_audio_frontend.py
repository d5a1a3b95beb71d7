"""The audio front-end's cost per 10 s of speech, and what librosa would cost in its place.

python benchmarks/bench_audio_frontend.py            # 10 s of real speech, median of 7 runs

Rows "warm" are repeated calls in one process (a server, a batch); rows "cold" run in a
fresh process that has already imported numpy, scipy and torch (as the CLI has by the
time the audio stage runs), so they include the imports the call itself triggers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SPEECH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "speech"
SR = 16000


def ten_seconds(seconds: float) -> np.ndarray:
    """Real English speech, clips joined until ``seconds`` long."""
    from scipy.io import wavfile

    parts, total = [], 0
    for path in sorted(SPEECH.glob("en_*.wav")):
        sr, x = wavfile.read(path)
        if sr != SR or x.ndim != 1:
            continue
        parts.append(x.astype(np.float32) / 32768.0)
        total += len(x)
        if total >= seconds * SR:
            break
    if not parts:
        raise SystemExit(f"no 16 kHz English speech under {SPEECH}")
    return np.concatenate(parts)[: int(seconds * SR)]


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: imports, caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


_COLD = """
import time, numpy as np, scipy.signal, scipy.ndimage, torch
x = np.load({path!r})
t = time.perf_counter()
{body}
print(1000.0 * (time.perf_counter() - t))
"""


def cold_ms(body: str, audio_path: Path, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        code = _COLD.format(path=str(audio_path), body=body)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()

    from avatar.audio.features import _yin, compute_features
    from avatar.audio.speech import Speech
    from avatar.refine.mel import melspectrogram

    x = ten_seconds(a.seconds)
    speech = Speech(x)
    n_frames = int(round(a.seconds * 25))
    audio_path = Path("/tmp/bench_audio_frontend.npy")
    np.save(audio_path, x)

    rows = [
        (
            "audio features (compute_features), warm",
            median_ms(lambda: compute_features(speech, 25.0, n_frames), a.repeats),
        ),
        (
            "audio features, cold (fresh process)",
            cold_ms(
                "from avatar.audio.features import compute_features\n"
                "from avatar.audio.speech import Speech\n"
                f"compute_features(Speech(x), 25.0, {n_frames})",
                audio_path,
            ),
        ),
        ("Wav2Lip mel (melspectrogram), warm", median_ms(lambda: melspectrogram(x), a.repeats)),
        (
            "Wav2Lip mel, cold (fresh process)",
            cold_ms("from avatar.refine.mel import melspectrogram\nmelspectrogram(x)", audio_path),
        ),
        ("our YIN pitch (features._yin), warm", median_ms(lambda: _yin(x, SR, len(x) // 160), 5)),
    ]
    try:
        import librosa

        rows += [
            (
                "librosa.yin (same range, 10 ms hop), warm",
                median_ms(
                    lambda: librosa.yin(
                        x, fmin=55.0, fmax=500.0, sr=SR, frame_length=1024, hop_length=160
                    ),
                    5,
                ),
            ),
            ("import librosa.filters, cold", cold_ms("import librosa.filters", audio_path)),
            (
                "import librosa.filters + librosa.core.spectrum, cold",
                cold_ms("import librosa.filters, librosa.core.spectrum", audio_path),
            ),
        ]
    except ImportError:
        print("(librosa is not installed: its rows are left out)")

    print(f"\n{a.seconds:g} s of speech, 16 kHz; median ms")
    print(f"{'step':<56} {'ms':>8}")
    for name, ms in rows:
        print(f"{name:<56} {ms:8.1f}")


if __name__ == "__main__":
    main()
