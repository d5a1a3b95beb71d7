"""The lip-closure model: shipped weights (weights/lip_closure) and the retraining recipe."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from avatar.audio import features as F
from tests.conftest import SHARED_DATA

GRID_S1 = SHARED_DATA / "videos_train" / "grid_s1_osalinasv"
# sha256 of the float16 bytes of the network that used to be embedded in features.py as
# base64 (_CLOSURE_NET_B64: W1, b1, W2, b2 in that order).
EMBEDDED_SHA256 = "f95d8b95175a3b9becd8a525bdb9cd4c3c01c47e7adc1600d805181b6a3c2c24"
# closure_probability on videos/grid_bbaf2n_male.mpg computed with the embedded blob (hop: P).
# After the move to safetensors the whole array was checked bit-identical on the dev machine;
# here a tolerance only absorbs BLAS differences between machines.
EMBEDDED_REFERENCE = {
    0: 0.0021555910352617502,
    50: 0.07449109852313995,
    97: 0.9793885350227356,
    99: 0.4956720173358917,
    150: 0.00023824007075745612,
    200: 0.003354658605530858,
    297: 0.006539547350257635,
}


def test_shipped_weights_are_the_embedded_network():
    folder = F.closure_model_dir()
    tensors = F.read_safetensors(folder / "model.safetensors")
    raw = b"".join(
        tensors[k].astype("<f2").tobytes()
        for k in ("hidden.weight", "hidden.bias", "output.weight", "output.bias")
    )
    assert hashlib.sha256(raw).hexdigest() == EMBEDDED_SHA256
    config = json.loads((folder / "config.json").read_text())
    assert config["offsets"] == [-12, -8, -4, -2, 0, 2, 4, 8, 12]
    assert config["hidden"] == 32 and config["input_dim"] == 135
    assert (folder / "README.md").is_file()
    safetensors = pytest.importorskip("safetensors.numpy")
    ref = safetensors.load_file(str(folder / "model.safetensors"))
    assert set(ref) == set(tensors)
    for k, v in ref.items():
        assert v.dtype == np.float16 and np.array_equal(v, tensors[k])


def test_closure_on_real_clip_matches_embedded_network():
    from avatar.audio.decode import load_audio

    path = SHARED_DATA / "videos" / "grid_bbaf2n_male.mpg"
    if not path.is_file():
        pytest.skip("shared data is not available")
    h = F.compute_features(load_audio(path), 25, 75).hires
    assert len(h.closure) == 298
    hops = list(EMBEDDED_REFERENCE)
    ref = np.array([EMBEDDED_REFERENCE[i] for i in hops], np.float32)
    np.testing.assert_allclose(h.closure[hops], ref, rtol=1e-5, atol=1e-7)


def test_train_one_epoch_exports_a_loadable_model(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from avatar.speech import closure_training as T

    if not GRID_S1.is_dir():
        pytest.skip("shared data videos_train is not available")
    data = tmp_path / "grid"
    (data / "align").mkdir(parents=True)
    for stem in ("bbaf5a", "bbal8p"):
        (data / f"{stem}.mpg").symlink_to(GRID_S1 / f"{stem}.mpg")
        (data / "align" / f"{stem}.align").symlink_to(GRID_S1 / "align" / f"{stem}.align")
    assert T.align_transcript(data / "align" / "bbaf5a.align") == "bin blue at f five again"

    summary = T.train_closure(
        data, tmp_path / "model", seed=3, epochs=1, espeak=False, holdout=["bbal8p*"]
    )
    assert summary["clips"] == 2 and summary["train_frames"] > 0
    assert summary["heldout_frames"] > 0

    net = F.load_closure_net(tmp_path / "model")
    assert net.w1.shape == (32, 135)
    x = T.load_16k(data / "bbal8p.mpg")
    h = F.compute_features(T.Speech(x), 25, 75).hires
    p = F.closure_probability(h.mfcc, h.rms_db, h.peak_db, h.periodicity, net=net)
    assert len(p) == len(h.rms_db) == T.n_hops(len(x))
    assert np.all((p >= 0) & (p <= 1))

    # deterministic for a seed
    again = T.train_closure(
        data, tmp_path / "again", seed=3, epochs=1, espeak=False, holdout=["bbal8p*"]
    )
    assert again == summary
    a = (tmp_path / "model" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "again" / "model.safetensors").read_bytes()


def test_espeak_sentence_labels_bilabials():
    from avatar.speech import closure_training as T

    if not T.espeak_available():
        pytest.skip("no espeak-ng library")
    clips = T.espeak_clips(sentences=["Bob bought a map."], voices=["en-us"], rates=[170])
    assert len(clips) == 1
    lab = clips[0].labels
    assert len(lab) == T.n_hops(len(clips[0].samples))
    assert 0 < lab.mean() < 0.6
