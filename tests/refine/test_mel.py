"""The mel front-end reproduces the reference's numbers on real speech, and its chunking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from avatar.refine import mel as M
from tests.conftest import hide_package, shared

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "wav2lip_mel_reference.json").read_text())


def _wav(name: str) -> np.ndarray:
    sr, x = wavfile.read(shared(f"speech/{name}"))
    assert sr == 16000 and x.dtype == np.int16
    return x.astype(np.float32) / 32768.0  # what librosa.load gives the reference


@pytest.mark.parametrize("clip", sorted(REFERENCE["clips"]))
@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_matches_the_reference_on_real_speech(clip, pad_mode):
    ref = REFERENCE["clips"][clip][pad_mode]
    ours = M.melspectrogram(_wav(clip), pad_mode=pad_mode)
    assert list(ours.shape) == ref["shape"] and ours.dtype == np.float32
    assert ours.mean() == pytest.approx(ref["mean"], abs=1e-5)
    assert ours.std() == pytest.approx(ref["std"], abs=1e-5)
    for key, values in (
        ("col_first", ours[:, 0]),
        ("col_100", ours[:, 100]),
        ("col_last", ours[:, -1]),
        ("row_40_head", ours[40, :40]),
    ):
        np.testing.assert_allclose(values, ref[key], atol=2e-5, err_msg=key)


def test_padding_modes_differ_only_at_the_edges():
    x = _wav("en_male_clean_voicebank_p287_003.wav")
    a = M.melspectrogram(x, pad_mode="reflect")
    b = M.melspectrogram(x, pad_mode="constant")
    diff = np.abs(a - b).max(axis=0)
    assert diff[0] > 0.01 and diff[-1] > 0.001
    assert diff[3:-3].max() == 0.0


def test_mel_filters_are_the_references():
    fb = M.mel_filterbank()
    assert fb.shape == (80, 401) and fb.dtype == np.float32
    # the reference's numbers: librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    assert fb.sum() == pytest.approx(3.999498, abs=1e-5)
    assert fb.max() == pytest.approx(0.026878776, abs=1e-8)
    assert list(fb.argmax(1)[[0, 10, 40, 79]]) == [5, 23, 86, 366]


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_blocked_stft_is_librosas(pad_mode, monkeypatch):
    """The hand-written STFT (kept to spare librosa.core.spectrum's import) is librosa.stft."""
    librosa = pytest.importorskip("librosa")
    from scipy.signal import lfilter

    x = _wav("en_male_clean_voicebank_p287_003.wav").astype(np.float64)
    y = lfilter([1.0, -M.PREEMPHASIS], [1.0], x)
    spec = np.abs(librosa.stft(y, n_fft=M.N_FFT, hop_length=M.HOP, pad_mode=pad_mode))
    mel = M.mel_filterbank().astype(np.float64) @ spec
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - M.REF_LEVEL_DB
    ref = np.clip(8.0 * (db + 100.0) / 100.0 - 4.0, -4.0, 4.0)
    monkeypatch.setattr(M, "_BLOCK_FRAMES", 50)  # several blocks
    np.testing.assert_allclose(M.melspectrogram(x, pad_mode=pad_mode), ref, atol=1e-5)


def test_missing_librosa_is_one_sentence(monkeypatch):
    hide_package(monkeypatch, "librosa")
    with pytest.raises(M.ModelError, match=r"needs librosa.*pip install"):
        M.mel_filterbank()


def test_block_processing_is_seamless(monkeypatch):
    x = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    whole = M.melspectrogram(x)
    monkeypatch.setattr(M, "_BLOCK_FRAMES", 7)
    np.testing.assert_array_equal(M.melspectrogram(x), whole)


def test_silence_and_bad_input():
    silent = M.melspectrogram(np.zeros(3200))
    assert silent.shape == (80, 17) and np.all(silent == M.SILENCE)
    with pytest.raises(ValueError):
        M.melspectrogram(np.array([0.0, np.nan]))
    with pytest.raises(ValueError):
        M.melspectrogram(np.zeros(100), pad_mode="edge")


def _reference_chunks(mel: np.ndarray, fps: float) -> list[np.ndarray]:
    """The loop of the reference inference script, restated."""
    chunks, i, step = [], 0, 80.0 / fps
    while True:
        start = int(i * step)
        if start + 16 > mel.shape[1]:
            chunks.append(mel[:, mel.shape[1] - 16 :])
            return chunks
        chunks.append(mel[:, start : start + 16])
        i += 1


@pytest.mark.parametrize("fps", [25.0, 24.0, 29.97, 30.0, 50.0, 60.0])
@pytest.mark.parametrize("n_cols", [16, 17, 100, 579])
def test_chunking_matches_the_reference(fps, n_cols):
    mel = np.random.default_rng(n_cols).uniform(-4, 4, (80, n_cols)).astype(np.float32)
    ref = _reference_chunks(mel, fps)
    chunks = M.MelChunks(mel, fps)
    assert len(chunks) == len(ref)
    for i, c in enumerate(ref):
        np.testing.assert_array_equal(chunks[i], c)
    # frames past the reference's count (our video is as long as the audio) reuse the last window
    np.testing.assert_array_equal(chunks[len(ref) + 5], ref[-1])
    assert chunks.batch([0, 1]).shape == (2, 1, 80, 16)


def test_short_audio_is_padded_with_silence():
    chunks = M.MelChunks(np.zeros((80, 5), np.float32), 25)
    assert chunks[0].shape == (80, 16)
    assert np.all(chunks[0][:, 5:] == M.SILENCE)
