"""avatar.eval.syncnet: checkpoint compatibility, MFCC front-end, offset search, crop, weights.

The real syncnet_v2.model is never downloaded here: the checkpoint tests save randomly
initialised weights in the official format (a plain name -> tensor dict, legacy torch
serialisation) into tmp_path. Equivalence with joonson/syncnet_python itself (same
random weights in both models, identical embeddings; identical MFCCs; identical
LSE-D/LSE-C on the same crops) was shown outside the repo and is recorded in the issue.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avatar.errors import ModelError  # noqa: E402
from avatar.eval import syncnet as sn  # noqa: E402
from tests.conftest import shared  # noqa: E402

# The weight tensors of syncnet_python's model S (buffers: running stats per BN).
_CONV = {
    "netcnnaud.0": (64, 1, 3, 3),
    "netcnnaud.4": (192, 64, 3, 3),
    "netcnnaud.8": (384, 192, 3, 3),
    "netcnnaud.11": (256, 384, 3, 3),
    "netcnnaud.14": (256, 256, 3, 3),
    "netcnnaud.18": (512, 256, 5, 4),
    "netcnnlip.0": (96, 3, 5, 7, 7),
    "netcnnlip.4": (256, 96, 1, 5, 5),
    "netcnnlip.8": (256, 256, 1, 3, 3),
    "netcnnlip.11": (256, 256, 1, 3, 3),
    "netcnnlip.14": (256, 256, 1, 3, 3),
    "netcnnlip.18": (512, 256, 1, 6, 6),
    "netfcaud.0": (512, 512),
    "netfcaud.3": (1024, 512),
    "netfclip.0": (512, 512),
    "netfclip.3": (1024, 512),
}
_BN = {
    **{f"netcnnaud.{i}": c for i, c in ((1, 64), (5, 192), (9, 384), (12, 256), (15, 256))},
    "netcnnaud.19": 512,
    **{f"netcnnlip.{i}": c for i, c in ((1, 96), (5, 256), (9, 256), (12, 256), (15, 256))},
    "netcnnlip.19": 512,
    "netfcaud.1": 512,
    "netfclip.1": 512,
}


def _expected_state() -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, shape in _CONV.items():
        out[f"{name}.weight"], out[f"{name}.bias"] = shape, (shape[0],)
    for name, c in _BN.items():
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.{leaf}"] = (c,)
        out[f"{name}.num_batches_tracked"] = ()
    return out


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = sn.SyncNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                t.normal_(0, 0.3)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    sn.save_checkpoint(model, path)
    return path


def test_state_dict_matches_syncnet_python():
    model = sn.SyncNet()
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == _expected_state()
    assert sum(p.numel() for p in model.parameters()) == 13_631_616


def test_checkpoint_round_trip_in_the_official_format(random_checkpoint, tmp_path):
    raw = torch.load(random_checkpoint, weights_only=True)
    assert isinstance(raw, dict) and not any(k.endswith("num_batches_tracked") for k in raw)
    model = sn.load_syncnet(random_checkpoint)
    assert not model.training
    for k, v in raw.items():
        assert torch.equal(model.state_dict()[k], v), k
    x = torch.randn(2, 1, 13, 20)
    assert model.forward_aud(x).shape == (2, 1024)
    # The same file written by the new zip serialiser loads too.
    modern = tmp_path / "modern.model"
    sn.save_checkpoint(model, modern, legacy=False)
    with torch.inference_mode():
        assert torch.equal(sn.load_syncnet(modern).forward_aud(x), model.forward_aud(x))


def test_bad_checkpoints_raise_one_sentence(random_checkpoint, tmp_path):
    raw = torch.load(random_checkpoint, weights_only=True)
    partial = tmp_path / "partial.model"
    torch.save({k: v for k, v in raw.items() if "netfclip.3" not in k}, partial)
    with pytest.raises(ModelError, match="incomplete"):
        sn.load_syncnet(partial)
    foreign = tmp_path / "foreign.model"
    torch.save({"conv.weight": torch.zeros(3)}, foreign)
    with pytest.raises(ModelError, match="not a syncnet_python SyncNet checkpoint"):
        sn.load_syncnet(foreign)
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read"):
        sn.load_syncnet(junk)


# --------------------------------------------------------------------------- MFCC


def _test_signal() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(8000 + 123) / 16000
    x = 4000 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + rng.normal(0, 300, t.size)
    x[2000:2600] = 0  # digital silence: the epsilon path
    return np.round(x).astype(np.int16)


def test_mfcc_matches_python_speech_features():
    # Values printed by python_speech_features 0.6 ``mfcc(signal, 16000)`` for this signal.
    ref_sum = [816.7581898234, -991.4179722864, 530.0414797634, 353.6477037233,
               343.3885649697, -45.115214485, -378.002830781, -674.8181039035,
               -870.6444867544, -1063.676865946, -954.452440716, -835.1777027991,
               -692.0028667008]  # fmt: skip
    ref_rows = {
        0: [17.33637591, -19.08808803, 11.26631856, 7.88883014, 5.72143138, -5.94514687,
            -14.50805341, -17.91465666, -22.57876255, -25.08179882, -23.83742645,
            -21.90538066, -14.8200063],
        13: [-36.04365339] + [0.0] * 12,
        49: [17.12634301, -19.58168902, 18.18091914, 14.82527418, 9.96157419, 3.76384224,
             -5.27899148, -17.16550111, -16.92458738, -22.79731798, -8.04277712,
             -5.15443402, -14.84948108],
    }  # fmt: skip
    got = sn.mfcc(_test_signal(), 16000)
    assert got.shape == (50, 13)  # 1 + ceil((8123 - 400) / 160) frames
    np.testing.assert_allclose(got.sum(axis=0), ref_sum, rtol=1e-9, atol=1e-7)
    for row, values in ref_rows.items():
        np.testing.assert_allclose(got[row], values, atol=1e-7)
    assert sn.mfcc(np.zeros(300), 16000).shape == (1, 13)  # shorter than one window


def test_mfcc_windows_take_four_columns_per_frame():
    feats = np.arange(100 * 13, dtype=np.float64).reshape(100, 13)
    win = sn.mfcc_windows(feats, 3)
    assert win.shape == (3, 1, 13, 20) and win.dtype == np.float32
    np.testing.assert_array_equal(win[2, 0], feats[8:28].T)
    assert sn.n_windows_for(75, 48000) == 70  # min(75, 48000 // 640) - 5
    assert sn.n_windows_for(75, 3000) == 0


# ------------------------------------------------------------------ offset search


@pytest.mark.parametrize("delay", [3, -2, 0])
def test_offset_search_finds_the_mouth_delay(delay):
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(60, 32)).astype(np.float32)
    video = np.roll(audio, delay, axis=0)  # video window i shows audio window i - delay
    res = sn.score_offsets(video, audio)
    assert res.offset == delay  # positive: mouth lags the audio
    assert res.n_windows == 60 and res.mean_dist.shape == (31,)
    assert res.lse_d < 0.5 and res.lse_c > 3  # near zero at the true offset
    assert res.lse_d == pytest.approx(float(res.mean_dist.min()))
    assert res.lse_c == pytest.approx(float(np.median(res.mean_dist) - res.mean_dist.min()))


def test_offset_distances_zero_pad_like_the_reference():
    v = np.ones((2, 4), np.float32)
    a = np.ones((2, 4), np.float32)
    d = sn.offset_distances(v, a, vshift=1).numpy()
    # window 0: offsets -1 (padding), 0, +1; window 1: 0, +1, -1+... (padding at the end)
    assert d.shape == (2, 3)
    assert d[0, 0] == pytest.approx(2.0, abs=1e-4) and d[0, 1] < 1e-4 and d[0, 2] < 1e-4
    assert d[1, 2] == pytest.approx(2.0, abs=1e-4)


# ----------------------------------------------------------------------- cropping


def test_crop_geometry_and_grey_padding():
    frame = np.zeros((400, 400, 3), np.uint8)
    frame[200:, :] = 255  # bottom half white
    crop = sn.crop_face(frame, 200.0, 200.0, 100.0)
    assert crop.shape == (224, 224, 3)
    # rows: [cy - 100, cy + 180] -> the white edge (y = 200) is at 100 / 280 of the crop
    col = crop[:, 112, 0].astype(int)
    edge = int(np.argmax(col > 128))
    assert abs(edge - round(224 * 100 / 280)) <= 1
    # near the frame corner the crop is padded with the reference's grey 110
    corner = sn.crop_face(frame, 10.0, 10.0, 100.0)
    assert tuple(corner[0, 0]) == (110, 110, 110)


def test_crop_boxes_fill_gaps_and_median_filter():
    from avatar.eval.tracker import FaceTrack

    n = 30
    nan = np.full(n, np.nan)
    found = np.ones(n, bool)
    found[10:14] = False
    center = np.stack([np.full(n, 100.0), np.full(n, 120.0)], axis=1)
    center[10:14] = np.nan
    width = np.full(n, 80.0)
    width[20] = 400.0  # one-frame glitch: the median filter removes it
    track = FaceTrack(
        fps=25.0, width=320, height=240, found=found, mouth_open=nan, jaw_open=nan,
        ear_left=nan, ear_right=nan, yaw=nan, pitch=nan, roll=nan, center=center,
        face_width=width, interocular=nan, stable=np.zeros((n, 16, 2), np.float32),
        stable_fit=np.zeros((n, 16, 2), np.float32), face_height=np.full(n, 90.0),
    )  # fmt: skip
    boxes = sn.crop_boxes(track)
    assert boxes.shape == (n, 3)
    mid = boxes[7:23]
    np.testing.assert_allclose(mid, np.tile([100.0, 120.0, 45.0], (16, 1)))
    track.found[:] = False
    assert sn.crop_boxes(track) is None


# ------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def short_grid(tmp_path_factory) -> Path:
    """The first 1.2 s of a real GRID clip (30 frames), re-encoded so the test stays fast."""
    from imageio_ffmpeg import get_ffmpeg_exe

    src = shared("videos/grid_lwbsza_female_older.mpg")
    out = tmp_path_factory.mktemp("grid") / "short.mp4"
    cmd = [get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-t", "1.2"]
    subprocess.run([*cmd, "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(out)], check=True)
    return out


def test_streamed_embeddings_equal_one_batch(random_checkpoint):
    model = sn.load_syncnet(random_checkpoint)
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 255, (224, 224, 3), dtype=np.uint8) for _ in range(9)]
    streamed = sn.embed_crops(model, iter(crops), 5, batch=2)
    clip = torch.from_numpy(np.stack(crops)).permute(3, 0, 1, 2).float()
    windows = torch.stack([clip[:, v : v + 5] for v in range(5)])
    with torch.inference_mode():
        whole = model.forward_lip(windows).numpy()
    np.testing.assert_allclose(streamed, whole, rtol=1e-4, atol=1e-3)


def test_lse_runs_on_a_real_clip(random_checkpoint, short_grid):
    res = sn.lse(short_grid, random_checkpoint)
    assert res.n_windows == 25  # min(30 frames, samples // 640) - 5
    assert np.isfinite(res.lse_d) and res.lse_c >= 0
    assert -15 <= res.offset <= 15 and res.mean_dist.shape == (31,)


def test_evaluate_video_reports_lse_with_given_weights(random_checkpoint, short_grid):
    from avatar.eval import evaluate_video

    r = evaluate_video(short_grid, syncnet_weights=random_checkpoint, identity=False)
    assert np.isfinite(r.lse_d) and r.lse_offset is not None
    assert "LSE-D / LSE-C" in r.format_table()
    r2 = evaluate_video(short_grid, lse=False)
    assert np.isnan(r2.lse_d)


# ------------------------------------------------------------------------ weights


def test_weights_entry_is_pinned():
    w = sn.SYNCNET_WEIGHTS
    assert len(w.revision) == 40 and len(w.sha256) == 64
    assert w.filename.endswith("syncnet_v2.model")
    assert w.revision in sn.fetch_command()


def test_weights_resolution_never_downloads_unasked(monkeypatch, tmp_path, random_checkpoint):
    import huggingface_hub

    calls: list[dict] = []

    def fake_download(**kwargs):
        calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise FileNotFoundError("not cached")
        raise OSError("offline")

    monkeypatch.delenv(sn.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert sn.resolve_syncnet_weights() is None
    assert calls and all(c["local_files_only"] for c in calls)
    assert all(c["revision"] == sn.SYNCNET_WEIGHTS.revision for c in calls)
    with pytest.raises(ModelError, match="could not be downloaded.*hf download"):
        sn.resolve_syncnet_weights(download=True)
    with pytest.raises(ModelError, match="does not exist"):
        sn.resolve_syncnet_weights(tmp_path / "missing.model")
    assert sn.resolve_syncnet_weights(random_checkpoint) == random_checkpoint
    monkeypatch.setenv(sn.WEIGHTS_ENV, str(random_checkpoint))
    assert sn.resolve_syncnet_weights() == random_checkpoint


def test_downloaded_weights_are_sha256_checked(monkeypatch, random_checkpoint):
    import huggingface_hub

    monkeypatch.delenv(sn.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **kw: str(random_checkpoint))
    with pytest.raises(ModelError, match="sha256"):
        sn.resolve_syncnet_weights()
    good = dataclasses.replace(sn.SYNCNET_WEIGHTS, sha256=sn.sha256_of(random_checkpoint))
    monkeypatch.setattr(sn, "SYNCNET_WEIGHTS", good)
    assert sn.resolve_syncnet_weights() == Path(random_checkpoint)
