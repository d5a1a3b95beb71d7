"""load_audio on real recordings, every container we promise, and every bad input."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.audio import SILENCE_LUFS, Speech, load_audio, measure_loudness, normalize_loudness
from avatar.audio import decode as decode_module
from avatar.errors import AudioError, AudioTooLongError

SR = 16000

# Durations read from the files' headers (sample counts / native rate).
KNOWN = [
    ("speech/en_male_jfk_inaugural_1961.flac", 11.0),  # 44.1 kHz stereo
    ("speech/es_male_commonvoice_19125377.wav", 8.136),
    ("speech/zh_female_aishell1_BAC009S0764W0121.wav", 4.2039375),
    ("speech/ja_male_commonvoice_38925334.wav", 9.0),
    ("speech/en_female_librispeech_198-209-0000.ogg", 13.9100625),
    ("speech/en_female_ljspeech_LJ028-0030_to_0039_long72s.flac", 71.66267573696145),  # 22.05k
]


def assert_one_sentence(message: str) -> None:
    """User-facing: one line, one sentence, no ffmpeg internals."""
    assert "\n" not in message
    assert message.endswith(".")
    assert message.count(". ") == 0, message
    assert "ffmpeg" not in message.lower() and "Errno" not in message
    assert len(message) < 220


def assert_normalised(speech: Speech, target: float = -20.0) -> None:
    assert speech.sample_rate == SR
    assert speech.samples.dtype == np.float32
    assert speech.samples.ndim == 1
    assert np.all(np.isfinite(speech.samples))
    assert float(np.max(np.abs(speech.samples))) <= 0.99 + 1e-6
    assert abs(measure_loudness(speech.samples, SR) - target) < 1.0


@pytest.mark.parametrize(("relative", "seconds"), KNOWN, ids=[Path(k[0]).name for k in KNOWN])
def test_real_speech_decodes_to_known_duration_and_target_loudness(data_file, relative, seconds):
    speech = load_audio(data_file(relative))
    assert speech.duration == pytest.approx(seconds, abs=0.002)
    assert_normalised(speech)
    assert speech.input_loudness_lufs is not None and np.isfinite(speech.input_loudness_lufs)
    assert speech.source == data_file(relative)


def test_input_loudness_is_the_measured_level_of_the_original(data_file, make_wav):
    from scipy.io import wavfile

    path = data_file("speech/es_male_commonvoice_19125377.wav")
    rate, raw = wavfile.read(path)
    assert rate == SR  # no resampling, so the original can be measured directly
    original = raw.astype(np.float64) / 32768.0
    speech = load_audio(path, target_lufs=-23.0)
    assert speech.input_loudness_lufs == pytest.approx(measure_loudness(original, SR), abs=0.05)
    assert_normalised(speech, target=-23.0)


def test_target_changes_only_the_gain(data_file):
    path = data_file("speech/ja_male_commonvoice_38925334.wav")  # peaks well below the ceiling
    loud, quiet = load_audio(path, target_lufs=-18.0), load_audio(path, target_lufs=-28.0)
    ratio = np.linalg.norm(loud.samples) / np.linalg.norm(quiet.samples)
    assert 20 * np.log10(ratio) == pytest.approx(10.0, abs=0.05)


@pytest.mark.parametrize(
    ("suffix", "args", "gapless"),
    [
        (".mp3", ["-c:a", "libmp3lame", "-b:a", "96k"], True),
        (".m4a", ["-c:a", "aac", "-b:a", "96k"], True),
        (".opus", ["-c:a", "libopus", "-b:a", "48k"], True),
        (".ogg", ["-c:a", "libvorbis", "-q:a", "4"], True),
        (".flac", ["-c:a", "flac", "-ar", "44100", "-ac", "2"], True),
        (".webm", ["-c:a", "libopus", "-b:a", "48k"], True),
        # Raw ADTS has no header to record the encoder delay: about 1024 samples of
        # priming (64 ms here) and the last frame's padding stay in. A format limit.
        (".aac", ["-c:a", "aac", "-b:a", "96k"], False),
    ],
)
def test_compressed_variants_decode_aligned(data_file, transcode, suffix, args, gapless):
    source = data_file("speech/es_male_commonvoice_19125377.wav")
    reference = load_audio(source).samples
    speech = load_audio(transcode(source, suffix, *args))
    assert_normalised(speech)
    if not gapless:
        assert speech.duration == pytest.approx(8.136, abs=0.15)
        return
    # Same length within a codec frame, and no delay: encoder priming must be trimmed.
    assert speech.duration == pytest.approx(8.136, abs=0.03)
    n = min(len(reference), len(speech.samples))
    a, b = reference[:n].astype(np.float64), speech.samples[:n].astype(np.float64)
    assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_sound_track_of_a_video_file(data_file, transcode, suffix):
    source = data_file("speech/zh_female_aishell1_BAC009S0764W0121.wav")
    video = transcode(
        source,
        suffix,
        *["-f", "lavfi", "-i", "color=c=gray:s=64x64:r=25", "-map", "1:v", "-map", "0:a"],
        *["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"],
    )
    speech = load_audio(video)
    assert speech.duration == pytest.approx(4.2039, abs=0.05)
    assert_normalised(speech)


def test_grid_mpg_mp2_audio_track(data_file):
    path = data_file("videos/grid_bbaf2n_male.mpg")
    speech = load_audio(path)
    # 131328 mp2 samples at 44.1 kHz; the 3.00 s video track is longer than the audio.
    assert speech.duration == pytest.approx(2.978, abs=0.01)
    assert_normalised(speech)


def test_resampler_keeps_the_band_and_rejects_aliases(make_wav):
    t = np.arange(44100 * 2) / 44100
    in_band, above_nyquist = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 11000 * t)
    stereo = np.stack([0.3 * in_band + 0.3 * above_nyquist, 0.3 * in_band], axis=1)
    speech = load_audio(make_wav("tones.wav", stereo, rate=44100))
    assert speech.duration == pytest.approx(2.0, abs=1e-3)
    spectrum = np.abs(np.fft.rfft(speech.samples * np.hanning(len(speech.samples))))
    freqs = np.fft.rfftfreq(len(speech.samples), 1 / SR)
    assert abs(freqs[np.argmax(spectrum)] - 1000) < 2
    # 11 kHz would fold to 5 kHz with a poor resampler.
    alias = spectrum[np.abs(freqs - 5000) < 20].max()
    assert 20 * np.log10(alias / spectrum.max()) < -60


def test_too_long_names_both_lengths_and_the_limit(data_file):
    with pytest.raises(AudioTooLongError) as info:
        load_audio(data_file("speech/en_male_jfk_inaugural_1961.flac"), max_seconds=5)
    message = str(info.value)
    assert_one_sentence(message)
    assert "11.0 seconds" in message and "limit is 5 seconds" in message
    assert "--max-audio-minutes" in message


def test_two_hour_file_fails_fast_from_its_header(tmp_path):
    # A real, valid 2-hour WAV (8 kHz, 16-bit mono) as a sparse file: 115 MB that costs nothing.
    path = tmp_path / "two_hours.wav"
    rate, seconds = 8000, 7200
    data_bytes = rate * 2 * seconds
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)
    start = time.perf_counter()
    with pytest.raises(AudioTooLongError) as info:
        load_audio(path)
    assert time.perf_counter() - start < 2.0
    assert_one_sentence(str(info.value))
    assert "120.0 minutes" in str(info.value) and "limit is 10 minutes" in str(info.value)


def test_without_a_header_duration_decoding_stops_after_the_limit(data_file, monkeypatch):
    monkeypatch.setattr(decode_module, "_header_duration", lambda path: None)
    jfk = data_file("speech/en_male_jfk_inaugural_1961.flac")
    with pytest.raises(AudioTooLongError, match="longer than the limit of 5 seconds"):
        load_audio(jfk, max_seconds=5)
    # Within the extra second that is decoded, the exact length is still reported.
    with pytest.raises(AudioTooLongError, match=r"11\.0 seconds long; the limit is 10\.5 seconds"):
        load_audio(jfk, max_seconds=10.5)
    assert load_audio(jfk, max_seconds=11.5).duration == pytest.approx(11.0, abs=0.002)


def test_silence_is_returned_unscaled_not_an_error(make_wav):
    speech = load_audio(make_wav("silence.wav", np.zeros(2 * SR)))
    assert speech.duration == pytest.approx(2.0)
    assert not np.any(speech.samples)
    assert speech.input_loudness_lufs == float("-inf")

    hiss = 1e-5 * np.random.default_rng(0).standard_normal(2 * SR)  # about -100 dBFS
    speech = load_audio(make_wav("hiss.wav", hiss))
    assert speech.input_loudness_lufs < SILENCE_LUFS
    assert np.allclose(speech.samples, hiss, atol=1e-6)  # not boosted by 80 dB


def test_very_short_audio_uses_rms_gain(make_wav):
    t = np.arange(int(0.2 * SR)) / SR
    speech = load_audio(make_wav("blip.wav", 0.01 * np.sin(2 * np.pi * 800 * t)))
    assert speech.duration == pytest.approx(0.2, abs=1e-3)
    level = 10 * np.log10(np.mean(speech.samples.astype(np.float64) ** 2))
    assert level == pytest.approx(-20.0, abs=0.5)
    assert np.isfinite(speech.input_loudness_lufs)


def _tone_with_clicks(click: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    t = np.arange(4 * SR) / SR
    tone = 0.01 * np.sin(2 * np.pi * 300 * t)  # about -43 LUFS: needs +23 dB
    clicks = np.zeros_like(tone)
    clicks[rng.integers(0, len(t), 20)] = click
    return tone, clicks


def test_peaks_are_limited_smoothly_not_clipped():
    tone, clicks = _tone_with_clicks(0.1)  # +23 dB puts the clicks 3 dB over the ceiling
    out, measured = normalize_loudness(tone + clicks, SR, -20.0)
    assert float(np.max(np.abs(out))) <= 0.99 + 1e-6
    assert np.count_nonzero(np.abs(out) >= 0.985) <= 20  # no flat-topped runs
    assert measure_loudness(out, SR) == pytest.approx(-20.0, abs=1.0)
    assert measured == pytest.approx(measure_loudness(tone + clicks, SR))
    # Away from the clicks the tone is a clean, steady sine: the gain only dips locally.
    far = np.ones(len(tone), bool)
    for i in np.flatnonzero(clicks):
        far[max(0, i - 400) : i + 400] = False
    ratio = out[far] / np.where(np.abs(tone[far]) > 1e-3, tone[far], np.nan)
    assert np.nanstd(ratio) / np.nanmean(ratio) < 1e-3
    assert np.nanmean(ratio) == pytest.approx(10 ** ((-20.0 - measured) / 20), rel=0.02)


def test_extreme_peaks_lower_the_whole_clip_instead_of_squashing_it():
    tone, clicks = _tone_with_clicks(0.5)  # would need about 12 dB of limiting
    out, measured = normalize_loudness(tone + clicks, SR, -20.0)
    assert float(np.max(np.abs(out))) <= 0.99 + 1e-6
    # At most MAX_LIMITING_DB is limited; the rest comes off the whole clip, so the
    # tone between the clicks is scaled by exactly the reduced gain.
    gain_db = -20.0 - measured
    overshoot_db = 20 * np.log10(np.max(tone + clicks) / 0.99) + gain_db
    assert overshoot_db > decode_module.MAX_LIMITING_DB + 3
    expected_gain = 10 ** ((gain_db - (overshoot_db - decode_module.MAX_LIMITING_DB)) / 20)
    far = np.ones(len(tone), bool)
    for i in np.flatnonzero(clicks):
        far[max(0, i - 400) : i + 400] = False
    loud_enough = far & (np.abs(tone) > 1e-3)
    assert np.median(out[loud_enough] / tone[loud_enough]) == pytest.approx(expected_gain, rel=0.01)
    assert measure_loudness(out, SR) < -23.0


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("notes.wav", b"This is a shopping list, not a recording.\n" * 20, "not an audio file"),
        ("empty.wav", b"", "is empty"),
        ("garbage.mp3", bytes(range(256)) * 40, "not an audio file"),
    ],
)
def test_files_that_are_not_audio(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError, match=fragment) as info:
        load_audio(path)
    assert_one_sentence(str(info.value))


def test_image_named_like_audio_has_no_sound(tmp_path, ffmpeg):
    import subprocess

    path = tmp_path / "portrait.wav"
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v",
         "1", "-c:v", "png", "-f", "image2", str(path)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioError, match="contains no sound") as info:
        load_audio(path)
    assert_one_sentence(str(info.value))


def test_zero_sample_wav_is_empty_audio(make_wav):
    with pytest.raises(AudioError, match="contains no sound") as info:
        load_audio(make_wav("nothing.wav", np.zeros(0)))
    assert_one_sentence(str(info.value))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="does not exist") as info:
        load_audio(tmp_path / "nope.flac")
    assert_one_sentence(str(info.value))
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


def test_damaged_file_gives_audio_error_or_audio_never_a_traceback(data_file, tmp_path):
    raw = bytearray(data_file("speech/en_male_jfk_inaugural_1961.flac").read_bytes())
    rng = np.random.default_rng(2)
    raw[5000:] = rng.integers(0, 256, len(raw) - 5000, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.flac"
    broken.write_bytes(bytes(raw))
    try:
        speech = load_audio(broken)
    except AudioError as exc:
        assert_one_sentence(str(exc))
    else:
        assert np.all(np.isfinite(speech.samples))
        assert speech.duration <= 11.5


def test_decoder_failure_is_one_sentence_with_ffmpeg_details_chained(data_file, monkeypatch):
    import subprocess

    real_run = subprocess.run

    def failing_run(cmd, **kwargs):
        return real_run([*cmd[:-1], "/no/such/dir/out.raw"], **kwargs)  # ffmpeg exits 1

    monkeypatch.setattr(decode_module.subprocess, "run", failing_run)
    with pytest.raises(AudioError, match="could not be decoded") as info:
        load_audio(data_file("speech/zh_female_aishell1_BAC009S0764W0121.wav"))
    assert_one_sentence(str(info.value))
    assert "ffmpeg exited with status" in str(info.value.__cause__)


def test_unreadable_file(tmp_path, make_wav):
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = make_wav("locked.wav", np.zeros(SR))
    path.chmod(0)
    with pytest.raises(AudioError, match="permission"):
        load_audio(path)
