"""Seed files and byte mutations for fuzzing the decoders (tests/test_fuzz.py and
benchmarks/fuzz_decoders.py).

The seeds are small real files made from shared/data (a 96-pixel portrait as
JPEG, PNG and GIF; half a second of speech as WAV, FLAC and MP3); mutations
are bit flips, truncations, splices of two files, byte runs and overwritten
header fields, the damage files really suffer.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PORTRAIT = DATA / "portraits" / "cc0_codait_luciano.png"
SPEECH = DATA / "speech" / "en_male_clean_voicebank_p287_003.wav"
MUTATIONS = ("flip", "truncate", "splice", "insert", "overwrite", "zero_run")


def seed_files(folder: Path) -> dict[str, bytes]:
    """Small valid files by name (``seed.jpg``, ``seed.wav``, ...), also written to ``folder``."""
    from imageio_ffmpeg import get_ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(PORTRAIT).convert("RGB").resize((96, 96))
    seeds: dict[str, bytes] = {}
    for name, fmt, kwargs in (
        ("seed.jpg", "JPEG", {"quality": 80}),
        ("seed.png", "PNG", {}),
        ("seed.gif", "GIF", {}),
    ):
        buf = io.BytesIO()
        photo.save(buf, format=fmt, **kwargs)
        seeds[name] = buf.getvalue()
    for name, args in (
        ("seed.wav", ["-c:a", "pcm_s16le"]),
        ("seed.flac", ["-c:a", "flac"]),
        ("seed.mp3", ["-c:a", "libmp3lame", "-b:a", "32k"]),
    ):
        out = folder / name
        cmd = [get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-ss", "1.0", "-t", "0.5"]
        cmd += ["-i", str(SPEECH), "-ac", "1", "-ar", "16000", *args, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        seeds[name] = out.read_bytes()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    return seeds


def mutate(data: bytes, kind: str, rng: np.random.Generator, other: bytes = b"") -> bytes:
    """One mutation of ``data``; the header (first 64 bytes) is hit half of the time."""
    n = len(data)
    if n == 0:
        return bytes(rng.integers(0, 256, 16, dtype=np.uint8))
    buf = bytearray(data)

    def pos() -> int:
        return int(rng.integers(0, min(n, 64))) if rng.random() < 0.5 else int(rng.integers(0, n))

    if kind == "flip":
        for _ in range(int(rng.integers(1, 9))):
            buf[pos()] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        buf = buf[: int(rng.integers(0, n))]
    elif kind == "splice":
        other = other or data
        buf = buf[: int(rng.integers(0, n))] + other[int(rng.integers(0, len(other))) :]
    elif kind == "insert":
        at = pos()
        buf[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    elif kind == "overwrite":  # a header field gets a huge or zero value
        at = pos()
        value = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
        buf[at : at + 4] = value
    elif kind == "zero_run":
        at = pos()
        length = int(rng.integers(1, max(2, n // 4)))
        buf[at : at + length] = bytes(min(length, n - at))
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return bytes(buf)


def try_decoders(path: Path) -> dict[str, str]:
    """Run the image loader and the audio loader on ``path``.

    Returns, per decoder, ``"ok"`` or the name of the ``AvatarError`` it raised;
    any other exception propagates (that is the bug a fuzzer looks for).
    """
    from avatar.audio import load_audio
    from avatar.errors import AvatarError
    from avatar.face import load_image

    outcome: dict[str, str] = {}
    for name, decode in (
        ("image", load_image),
        ("audio", lambda p: load_audio(p, max_seconds=60.0)),
    ):
        try:
            decode(path)
            outcome[name] = "ok"
        except AvatarError as exc:
            outcome[name] = type(exc).__name__
    return outcome
