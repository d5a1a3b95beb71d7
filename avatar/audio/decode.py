"""Decode any voice-over into the 16 kHz mono, loudness-normalised ``Speech``.

Decoding is done by the ffmpeg binary that ships with ``imageio-ffmpeg`` (a
subprocess writing raw float32 to a pipe, resampled by soxr), so every format
ffmpeg reads works: wav, mp3, m4a/aac, ogg/vorbis, opus, flac and the sound
track of videos. PyAV reads only the header first, so that a non-audio file or
a two-hour recording is refused before anything is decoded.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np

from avatar.audio.speech import SAMPLE_RATE, Speech
from avatar.errors import AudioError, AudioTooLongError

log = logging.getLogger(__name__)

#: Integrated loudness (LUFS) below which audio counts as silent and is left unscaled.
SILENCE_LUFS = -70.0
#: Sample peak ceiling after normalisation (about -0.09 dBFS).
PEAK_CEILING = 0.99
#: The most the peak limiter may reduce a peak; louder peaks lower the whole clip instead,
#: so heavily peaky audio ends up quieter rather than audibly squashed.
MAX_LIMITING_DB = 6.0
#: Limiter look-ahead/release half-window, seconds.
_LIMITER_HALF_WINDOW_S = 0.005
#: Extra audio decoded past the limit, so "just over the limit" is measured, not guessed.
_OVERRUN_S = 1.0
#: pyloudnorm's gating block; shorter clips fall back to an RMS estimate.
_BLOCK_S = 0.4
_SUPPORTED = "wav, mp3, m4a, aac, ogg, opus, flac, or a video with sound"
_CLI_LIMIT_HINT = "change it with --max-audio-minutes"


def load_audio(
    path: str | os.PathLike[str],
    *,
    max_seconds: float = 600.0,
    target_lufs: float = -20.0,
) -> Speech:
    """Decode ``path`` to 16 kHz mono float32 and normalise it to ``target_lufs``.

    Raises ``AudioError`` (one sentence, no ffmpeg jargon) for a missing,
    empty, unreadable or non-audio file, and ``AudioTooLongError`` when the
    audio is longer than ``max_seconds`` (``math.inf`` means no limit).
    Silence is not an error: it comes back unscaled with
    ``input_loudness_lufs`` below ``SILENCE_LUFS`` (``-inf`` for digital
    silence), and callers decide what to do with it.
    """
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")
    if not (math.isfinite(target_lufs) and target_lufs < 0):
        raise ValueError(f"target_lufs must be a negative number, got {target_lufs!r}")

    path = Path(path)
    _check_file(path)
    header_seconds = _header_duration(path)
    if header_seconds is not None and header_seconds > max_seconds + _OVERRUN_S:
        raise AudioTooLongError(_too_long_message(header_seconds, max_seconds))

    read_limit = max_seconds + _OVERRUN_S if math.isfinite(max_seconds) else None
    samples = _decode(path, read_limit)
    if samples.size == 0:
        raise AudioError(f"The voice-over '{path.name}' contains no sound (it is empty).")
    if samples.size > max_seconds * SAMPLE_RATE:
        # A capped decode: the true length is only known when the cap was not reached.
        capped = read_limit is not None and samples.size >= (read_limit - 0.05) * SAMPLE_RATE
        seconds = None if capped else samples.size / SAMPLE_RATE
        raise AudioTooLongError(_too_long_message(seconds, max_seconds))

    normalised, loudness = normalize_loudness(samples, SAMPLE_RATE, target_lufs)
    return Speech(
        samples=normalised,
        sample_rate=SAMPLE_RATE,
        source=path,
        input_loudness_lufs=loudness,
    )


def measure_loudness(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770 via pyloudnorm); ``-inf`` for silence.

    Clips shorter than one 400 ms gating block cannot be measured by BS.1770,
    so they get the ungated mean-square level, which matches LUFS closely for
    speech-band content.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    if x.shape[0] <= _BLOCK_S * sample_rate:
        mean_square = float(np.mean(np.square(x)))
        return 10.0 * math.log10(mean_square) if mean_square > 0 else float("-inf")
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loudness = float(meter.integrated_loudness(x))
    return loudness if not math.isnan(loudness) else float("-inf")


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    target_lufs: float = -20.0,
    *,
    peak_ceiling: float = PEAK_CEILING,
) -> tuple[np.ndarray, float]:
    """Scale ``samples`` to ``target_lufs`` with peaks kept at or below ``peak_ceiling``.

    Returns ``(float32 samples, measured input loudness)``. Every later stage
    (phone recognition, lip-sync features, the muxed track) then sees the same
    level whatever the recording. Peaks that the gain would push over the
    ceiling are pulled down by a short look-ahead limiter (a smooth gain
    envelope, never hard clipping); if that would take more than
    ``MAX_LIMITING_DB``, the whole clip is lowered instead. Silent input (below
    ``SILENCE_LUFS``) is returned unscaled.
    """
    x = np.asarray(samples, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    loudness = measure_loudness(x, sample_rate)
    if not loudness > SILENCE_LUFS:
        return x.astype(np.float32), loudness

    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(x))) * gain
    if peak > peak_ceiling:
        overshoot_db = 20.0 * math.log10(peak / peak_ceiling)
        if overshoot_db > MAX_LIMITING_DB:
            gain *= 10.0 ** (-(overshoot_db - MAX_LIMITING_DB) / 20.0)
    y = _limit_peaks(x * gain, peak_ceiling, sample_rate)
    return y.astype(np.float32), loudness


def _limit_peaks(x: np.ndarray, ceiling: float, sample_rate: int) -> np.ndarray:
    """Smoothly lower the gain around samples above ``ceiling``.

    The per-sample gain that would just reach the ceiling is spread by a
    minimum filter and then averaged by a box filter of the same centred
    width: every sample inside a peak's window has a gain no larger than the
    peak needs, so the average at the peak is small enough too, and the gain
    ramps in and out over about 10 ms instead of jumping.
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= ceiling:
        return x
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    needed = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-12))
    size = 2 * max(1, round(_LIMITER_HALF_WINDOW_S * sample_rate)) + 1
    envelope = minimum_filter1d(needed, size=size, axis=0, mode="nearest")
    envelope = uniform_filter1d(envelope, size=size, axis=0, mode="nearest")
    y = x * envelope
    peak = float(np.max(np.abs(y)))
    if peak > ceiling:  # rounding in the box filter; a hair of global gain fixes it
        y *= ceiling / peak
    return y


def _check_file(path: Path) -> None:
    """Refuse missing, unreadable or zero-byte files with a plain sentence."""
    if not path.exists():
        raise AudioError(f"The voice-over file '{path}' does not exist.")
    if path.is_dir():
        raise AudioError(f"'{path}' is a folder, not a voice-over file.")
    if not os.access(path, os.R_OK):
        raise AudioError(f"The voice-over file '{path}' cannot be read (permission denied).")
    if path.stat().st_size == 0:
        raise AudioError(f"The voice-over file '{path.name}' is empty.")


def _header_duration(path: Path) -> float | None:
    """Audio duration from the container header, or ``None`` when the header has none.

    Also rejects files that are not media at all or have no sound track, which
    the header answers cheaply. Raises ``AudioError``.
    """
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FileNotFoundError as exc:  # raced with a delete
        raise AudioError(f"The voice-over file '{path}' does not exist.") from exc
    except av.error.PermissionError as exc:
        raise AudioError(
            f"The voice-over file '{path}' cannot be read (permission denied)."
        ) from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AudioError(
            f"The file '{path.name}' is not an audio file that can be read "
            f"(supported: {_SUPPORTED})."
        ) from exc
    try:
        if not container.streams.audio:
            raise AudioError(
                f"The file '{path.name}' contains no sound; choose a voice-over file "
                f"({_SUPPORTED})."
            )
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        # Without a per-stream duration, the container's is the audio's only when
        # nothing else (a longer video track) could have set it.
        if (
            container.duration is not None
            and container.duration > 0
            and not container.streams.video
        ):
            return container.duration / 1_000_000
        return None
    finally:
        container.close()


def _decode(path: Path, read_limit: float | None) -> np.ndarray:
    """Run ffmpeg: first audio stream -> mono -> 16 kHz (soxr) -> float32 on stdout."""
    from imageio_ffmpeg import get_ffmpeg_exe

    cmd = [get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
    if read_limit is not None:
        cmd += ["-t", f"{read_limit:.3f}"]  # input option: stop reading, don't just drop
    cmd += [
        "-i",
        f"file:{path.resolve()}",  # "file:" so names like "a:b.wav" aren't protocols
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-af",
        f"aformat=channel_layouts=mono,aresample={SAMPLE_RATE}:resampler=soxr:precision=28",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "pcm_f32le",
        "-f",
        "f32le",
        "pipe:1",
    ]
    # Generous: decoding runs at hundreds of times real time.
    timeout = 120.0 + (read_limit if read_limit is not None else 3600.0)
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(
            f"Decoding the voice-over '{path.name}' took too long; the file may be damaged."
        ) from exc
    stderr = result.stderr.decode("utf-8", errors="replace").strip()
    if result.returncode != 0:
        raise AudioError(
            f"The voice-over '{path.name}' could not be decoded; the file may be damaged "
            f"or in an unsupported format."
        ) from _FFmpegFailure(result.returncode, stderr)
    if stderr:
        log.warning("ffmpeg reported problems decoding %s: %s", path, stderr[-2000:])
    data = result.stdout
    usable = len(data) - len(data) % 4
    return np.frombuffer(data[:usable], dtype="<f4").astype(np.float32, copy=True)


class _FFmpegFailure(RuntimeError):
    """Carries ffmpeg's exit status and stderr as the ``__cause__`` of an AudioError."""

    def __init__(self, returncode: int, stderr: str) -> None:
        tail = "\n".join(stderr.splitlines()[-20:])
        super().__init__(f"ffmpeg exited with status {returncode}:\n{tail}")
        self.returncode = returncode
        self.stderr = stderr


def _too_long_message(seconds: float | None, max_seconds: float) -> str:
    limit = _format_limit(max_seconds)
    if seconds is None:
        return f"The voice-over is longer than the limit of {limit} ({_CLI_LIMIT_HINT})."
    return (
        f"The voice-over is {_format_length(seconds)} long; the limit is {limit} "
        f"({_CLI_LIMIT_HINT})."
    )


def _format_length(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} seconds"
    return f"{seconds / 60:.1f} minutes"


def _format_limit(seconds: float) -> str:
    if seconds >= 60:
        minutes = seconds / 60
        text = f"{minutes:.1f}".rstrip("0").rstrip(".")
        return f"{text} minute" + ("" if text == "1" else "s")
    text = f"{seconds:.1f}".rstrip("0").rstrip(".")
    return f"{text} second" + ("" if text == "1" else "s")


MIN_SECONDS = 0.2  # shorter than this there is no speech to animate


def load_voiceover(source, *, max_seconds: float = 600.0) -> Speech:
    """A voice-over for a pipeline: a ``Speech`` as given, or a file decoded; too short -> error."""
    speech = source if isinstance(source, Speech) else load_audio(source, max_seconds=max_seconds)
    if speech.duration < MIN_SECONDS:
        raise AudioError(
            f"The voice-over is only {speech.duration:.2f} seconds long; "
            f"it must be at least {MIN_SECONDS} s."
        )
    return speech
