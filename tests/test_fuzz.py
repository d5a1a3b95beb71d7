"""Property-based fuzzing of the face, audio and video stages and of the file decoders.

The property everywhere: a result of the promised shape, or an ``AvatarError``
(one sentence for the user); never any other exception. The CI profile is
small (about 25 s in all); ``benchmarks/fuzz_decoders.py`` runs thousands of
mutated files through the same decoders.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from avatar.errors import AudioError, ImageError  # noqa: E402
from tests.conftest import shared  # noqa: E402
from tests.fuzz_corpus import MUTATIONS, mutate, seed_files, try_decoders  # noqa: E402

CI = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run: CI failures reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DTYPES = [np.uint8, np.uint16, np.float32, np.int32, np.bool_]


@st.composite
def image_arrays(draw, max_side: int = 700):
    h = draw(st.integers(1, max_side))
    aspect = draw(st.sampled_from([1 / 8, 1 / 3, 1 / 2, 1.0, 4 / 3, 3, 8]))
    w = int(np.clip(round(h * aspect), 1, max_side * 2))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4, 5]))
    dtype = draw(st.sampled_from(DTYPES))
    shape = (h, w) if channels is None else (h, w, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype is np.bool_:
        arr = rng.random(shape) > 0.5
    elif dtype is np.float32:
        arr = (rng.random(shape) * draw(st.sampled_from([1.0, 255.0, 65535.0]))).astype(dtype)
    else:
        top = {np.uint8: 256, np.uint16: 65536, np.int32: 70000}[dtype]
        arr = rng.integers(0, top, shape).astype(dtype)
    return arr


@CI
@given(arr=image_arrays())
def test_load_image_any_array(arr):
    from avatar.face import load_image
    from avatar.face.image import MAX_SIDE

    try:
        out = load_image(arr)
    except ImageError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert max(out.shape[:2]) <= MAX_SIDE


@CI
@given(
    side=st.integers(40, 360),
    aspect=st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0]),
    mode=st.sampled_from(["RGB", "L", "RGBA", "CMYK", "P", "I;16", "1"]),
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"]),
    seed=st.integers(0, 2**16),
)
def test_face_stage_on_random_noise_files(tmp_path, side, aspect, mode, fmt, seed):
    """Noise photos of every size, mode and format: no face (or a rig), never a crash."""
    from PIL import Image

    from avatar.face import analyze_portrait

    rng = np.random.default_rng(seed)
    w, h = max(1, round(side * aspect)), side
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    im = (
        rgb.convert(mode)
        if mode != "I;16"
        else Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    )
    path = tmp_path / f"noise.{fmt.lower()}"
    try:
        im.save(path, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot store this mode
        return
    try:
        rig = analyze_portrait(path)
    except ImageError:
        return
    assert rig.landmarks.shape == (478, 3)


@CI
@given(
    seconds=st.sampled_from([0.0, 0.01, 0.1, 0.19, 0.2, 0.4, 1.0, 2.5]),
    rate=st.sampled_from([4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000]),
    channels=st.integers(1, 6),
    dtype=st.sampled_from(["int16", "int32", "float32", "uint8"]),
    level=st.sampled_from([0.0, 1e-4, 0.1, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_audio_decode_and_features(tmp_path, seconds, rate, channels, dtype, level, seed):
    """Any length, rate, channel count and sample format: Speech + per-frame features."""
    from scipy.io import wavfile

    from avatar.audio import SAMPLE_RATE, load_voiceover
    from avatar.audio.features import compute_features

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.clip(rng.standard_normal((n, channels)) * 0.2 * level, -1, 1)
    scale = {"int16": 32767, "int32": 2**31 - 1, "float32": 1.0, "uint8": 127}[dtype]
    data = x * scale + (128 if dtype == "uint8" else 0)
    path = tmp_path / "fuzz.wav"
    wavfile.write(path, rate, data.astype(dtype))
    try:
        speech = load_voiceover(path, max_seconds=60.0)
    except AudioError:
        assert seconds < 0.2 + 1 / rate
        return
    assert speech.sample_rate == SAMPLE_RATE and speech.samples.ndim == 1
    assert abs(speech.duration - n / rate) < 0.01
    assert np.all(np.isfinite(speech.samples)) and np.abs(speech.samples).max() <= 1.0
    for fps in (24.0, 25.0, 30.0):
        frames = speech.n_frames(fps)
        features = compute_features(speech, fps, frames)
        assert len(features.rms_db) == frames
        assert np.all(np.isfinite(features.rms_db))


@CI
@given(
    width=st.integers(2, 300),
    height=st.integers(2, 300),
    fps=st.sampled_from([1.0, 12.5, 24.0, 25.0, 29.97, 60.0]),
    n_frames=st.integers(1, 4),
    with_audio=st.booleans(),
)
def test_video_writer_frame_sizes(tmp_path, width, height, fps, n_frames, with_audio):
    from avatar.audio import Speech
    from avatar.video import probe_video
    from avatar.video.writer import VideoWriter

    speech = None
    if with_audio:
        speech = Speech(np.zeros(max(1, int(16000 * n_frames / fps)), np.float32))
    out = tmp_path / "v.mp4"
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    with VideoWriter(out, fps=fps, size=(width, height), audio=speech, preset="ultrafast") as w:
        for _ in range(n_frames):
            w.write(frame)
    info = probe_video(out)
    assert (info.width, info.height) == (width - width % 2, height - height % 2)
    assert info.n_frames == n_frames
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    shared("portraits/cc0_codait_luciano.png")
    shared("speech/en_male_clean_voicebank_p287_003.wav")
    return seed_files(tmp_path_factory.mktemp("fuzz-seeds"))


def test_seeds_decode(seeds, tmp_path):
    """The unmutated seeds are valid: the fuzzing starts from files that work."""
    for name, data in seeds.items():
        path = tmp_path / name
        path.write_bytes(data)
        outcome = try_decoders(path)
        kind = "image" if name.endswith((".jpg", ".png", ".gif")) else "audio"
        assert outcome[kind] == "ok", (name, outcome)


@settings(CI, max_examples=60)
@given(
    name=st.sampled_from(["seed.jpg", "seed.png", "seed.gif", "seed.wav", "seed.flac", "seed.mp3"]),
    other=st.sampled_from(["seed.jpg", "seed.png", "seed.wav", "seed.flac", "seed.mp3"]),
    kind=st.sampled_from(MUTATIONS),
    seed=st.integers(0, 2**32 - 1),
)
def test_mutated_files_only_raise_avatar_errors(seeds, tmp_path, name, other, kind, seed):
    data = mutate(seeds[name], kind, np.random.default_rng(seed), seeds[other])
    path = tmp_path / name  # the extension still claims the original format
    path.write_bytes(data)
    outcome = try_decoders(path)  # anything but AvatarError propagates and fails the test
    assert set(outcome) == {"image", "audio"}
