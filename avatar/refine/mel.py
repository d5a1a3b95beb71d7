"""Wav2Lip's audio front-end: the log-mel spectrogram it was trained on, and its per-frame windows.

The numbers are the reference implementation's (``hparams.py`` / ``audio.py``
of Rudrabha/Wav2Lip). The mel filters are librosa's, as in the reference; the
STFT is a blocked numpy one, equal to ``librosa.stft`` to the last bit on these
settings but without importing ``librosa.core.spectrum`` (about 0.8 s more per
process, for no speed-up) and with memory flat in the length:

* 16 kHz mono, pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]``;
* STFT with an 800-sample periodic Hann window, hop 200 (80 frames per
  second), centred frames: the signal is padded by 400 samples on both sides,
  by reflection as librosa 0.7 (which the released models were trained with)
  did; ``pad_mode="constant"`` gives librosa >= 0.10's zero padding;
* magnitude (not power) through 80 Slaney-scale, area-normalised mel filters
  from 55 to 7600 Hz;
* ``20 log10(max(1e-5, m)) - 20`` dB, mapped linearly from [-100, 0] dB to
  [-4, 4] and clipped.

Each video frame ``i`` sees the 16 mel columns (0.2 s) that start at
``int(i * 80 / fps)``; once that window would run past the end, the last 16
columns are used, exactly as the reference inference script does.
"""

from __future__ import annotations

import numpy as np

from avatar.errors import ModelError

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16  # mel columns per video frame window (0.2 s)
MELS_PER_SECOND = SAMPLE_RATE / HOP  # 80
SILENCE = -MAX_ABS_VALUE  # the normalised value of silence

_BLOCK_FRAMES = 4096  # STFT frames per block: memory stays flat however long the audio


def mel_filterbank() -> np.ndarray:
    """(80, 401) float32 Slaney-scale, area-normalised mel filters: librosa's own.

    The reference builds them with ``librosa.filters.mel`` and so do we, so the
    model sees the very numbers it was trained on. librosa is imported here, not
    at module import: it costs 0.3-0.45 s once per process (numba), which only
    the refinement pass pays.
    """
    try:
        import librosa.filters
    except ImportError as exc:
        raise ModelError(
            "Wav2Lip refinement needs librosa for its mel filters, which is not installed; "
            'install it with `pip install -e ".[refine]"`.'
        ) from exc
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)


_FILTERS: np.ndarray | None = None
_WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN) / WIN)  # periodic Hann


def melspectrogram(samples: np.ndarray, *, pad_mode: str = "reflect") -> np.ndarray:
    """(80, 1 + len // 200) float32 normalised log-mel spectrogram of 16 kHz mono audio.

    ``pad_mode`` is how the centred STFT pads the edges: ``"reflect"`` (the
    reference as the released models were trained) or ``"constant"`` (zeros).
    """
    global _FILTERS
    if pad_mode not in ("reflect", "constant"):
        raise ValueError(f"pad_mode must be 'reflect' or 'constant', got {pad_mode!r}")
    from scipy.signal import lfilter

    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("no audio samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("the audio contains NaN or infinite samples")
    if _FILTERS is None:
        _FILTERS = mel_filterbank().astype(np.float64)
    y = lfilter([1.0, -PREEMPHASIS], [1.0], x)
    half = N_FFT // 2
    if pad_mode == "reflect" and y.size <= half:
        pad_mode = "constant"  # reflection needs more samples than the pad
    y = np.pad(y, half, mode=pad_mode)
    n_frames = 1 + (y.size - N_FFT) // HOP
    out = np.empty((N_MELS, n_frames), dtype=np.float32)
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(n_frames, start + _BLOCK_FRAMES)
        seg = y[start * HOP : (stop - 1) * HOP + N_FFT]
        frames = np.lib.stride_tricks.sliding_window_view(seg, N_FFT)[::HOP]
        magnitude = np.abs(np.fft.rfft(frames * _WINDOW, axis=1))  # (n, 401)
        mel = _FILTERS @ magnitude.T
        db = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
        norm = 2 * MAX_ABS_VALUE * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
        out[:, start:stop] = np.clip(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE)
    return out


def chunk_start(index: int, fps: float) -> int:
    """First mel column of video frame ``index``'s window, with the reference's float arithmetic."""
    return int(index * (MELS_PER_SECOND / fps))


def reference_chunk_count(n_mel_frames: int, fps: float) -> int:
    """How many windows the reference inference script makes (its video is cut to this)."""
    count = 0
    while chunk_start(count, fps) + MEL_STEP <= n_mel_frames:
        count += 1
    return count + 1


class MelChunks:
    """The per-video-frame mel windows of one clip, computed once, indexed by frame.

    ``chunks[i]`` is an (80, 16) float32 window for frame ``i`` at ``fps``:
    the reference's window for every frame it covers, and its last window
    (the final 16 columns) for frames past the end of the audio.
    """

    def __init__(self, mel: np.ndarray, fps: float) -> None:
        if mel.ndim != 2 or mel.shape[0] != N_MELS:
            raise ValueError(f"mel must be (80, T), got {mel.shape}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if mel.shape[1] < MEL_STEP:  # audio under 0.2 s: pad with silence
            pad = np.full((N_MELS, MEL_STEP - mel.shape[1]), SILENCE, np.float32)
            mel = np.concatenate([mel, pad], axis=1)
        self.mel = np.ascontiguousarray(mel, dtype=np.float32)
        self.fps = float(fps)

    @classmethod
    def from_samples(
        cls, samples: np.ndarray, fps: float, *, pad_mode: str = "reflect"
    ) -> MelChunks:
        return cls(melspectrogram(samples, pad_mode=pad_mode), fps)

    @property
    def n_mel_frames(self) -> int:
        return self.mel.shape[1]

    def __len__(self) -> int:
        """Windows the reference makes; later frames reuse the last one."""
        return reference_chunk_count(self.n_mel_frames, self.fps)

    def __getitem__(self, index: int) -> np.ndarray:
        if index < 0:
            raise IndexError("mel windows are indexed by non-negative frame numbers")
        start = chunk_start(index, self.fps)
        if start + MEL_STEP > self.n_mel_frames:
            start = self.n_mel_frames - MEL_STEP
        return self.mel[:, start : start + MEL_STEP]

    def batch(self, indices) -> np.ndarray:
        """(N, 1, 80, 16) float32 windows for the given frame indices (the model's audio input)."""
        return np.stack([self[i] for i in indices])[:, None]
