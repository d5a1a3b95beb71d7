"""Checkpoints load in every official form; a bad file is one clear sentence."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

from avatar.errors import ModelError  # noqa: E402
from avatar.refine.checkpoint import (  # noqa: E402
    load_wav2lip,
    read_checkpoint,
    save_wav2lip_checkpoint,
)
from avatar.refine.wav2lip_model import Wav2Lip, Wav2LipDims, count_parameters  # noqa: E402
from tests.refine.conftest import random_model  # noqa: E402


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _one_sentence(exc: Exception) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


def test_official_training_checkpoint(tiny_checkpoint, tiny_model):
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "optimizer", "global_step", "global_epoch"}
    assert all(k.startswith("module.") for k in raw["state_dict"])
    assert tiny_checkpoint.read_bytes()[:2] == b"\x80\x02"  # legacy pickle, not a zip
    assert _same(load_wav2lip(tiny_checkpoint), tiny_model)


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("prefix", ["", "module.", "module.module."])
def test_formats_and_prefixes(tmp_path, tiny_model, legacy, prefix):
    path = save_wav2lip_checkpoint(
        tiny_model, tmp_path / "c.pth", legacy=legacy, prefix=prefix, with_optimizer=False
    )
    assert _same(load_wav2lip(path), tiny_model)


def test_bare_state_dict_and_missing_counters(tmp_path, tiny_model):
    state = {k: v for k, v in tiny_model.state_dict().items() if "num_batches" not in k}
    torch.save(state, tmp_path / "bare.pth")
    assert _same(load_wav2lip(tmp_path / "bare.pth").eval(), tiny_model) is False  # counters differ
    loaded = load_wav2lip(tmp_path / "bare.pth")
    for k, v in state.items():
        assert torch.equal(loaded.state_dict()[k], v)


def test_full_size_model_in_official_format(tmp_path):
    model = random_model(seed=1)
    path = save_wav2lip_checkpoint(model, tmp_path / "wav2lip.pth", with_optimizer=False)
    loaded = load_wav2lip(path)
    assert count_parameters(loaded) == 36_298_035
    assert loaded.dims == Wav2LipDims()
    assert _same(loaded, model)


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("keep", [0.5, 0.99, 0.001])
def test_truncated_checkpoint(tmp_path, tiny_model, legacy, keep):
    path = save_wav2lip_checkpoint(tiny_model, tmp_path / "full.pth", legacy=legacy)
    data = path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: max(1, int(len(data) * keep))])
    with pytest.raises(ModelError) as err:
        load_wav2lip(cut)
    assert "truncated or corrupt" in _one_sentence(err.value) or "corrupt" in str(err.value)


def test_garbage_empty_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 40)
    html = tmp_path / "page.pth"  # what a failed download from a web page looks like
    html.write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    for path, words in (
        (junk, "corrupt"),
        (html, "corrupt"),
        (empty, "empty"),
        (tmp_path / "nope.pth", "does not exist"),
    ):
        with pytest.raises(ModelError) as err:
            load_wav2lip(path)
        assert words in _one_sentence(err.value), (path, err.value)


class _Payload:
    ran = False

    def __reduce__(self):
        return (_mark, ())


def _mark():
    _Payload.ran = True
    return {}


def test_pickled_code_is_not_run(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _Payload()}, path)
    with pytest.raises(ModelError) as err:
        read_checkpoint(path)
    assert "for safety" in _one_sentence(err.value)
    assert not _Payload.ran


def test_plain_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "list.pth"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(ModelError) as err:
        load_wav2lip(path)
    _one_sentence(err.value)


def test_other_wav2lip_models_are_named(tmp_path):
    expert = {f"face_encoder.{i}.conv_block.0.weight": torch.zeros(1) for i in range(3)}
    expert["audio_encoder.0.conv_block.0.weight"] = torch.zeros(1)
    disc = {"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(1)}
    disc["binary_pred.0.weight"] = torch.zeros(1)
    for state, words in ((expert, "expert discriminator"), (disc, "quality discriminator")):
        torch.save({"state_dict": state}, tmp_path / "x.pth")
        with pytest.raises(ModelError) as err:
            load_wav2lip(tmp_path / "x.pth", dims=Wav2LipDims.tiny())
        assert words in _one_sentence(err.value)


def test_wrong_shapes_and_extra_blocks(tmp_path, tiny_model):
    state = tiny_model.state_dict()
    state["output_block.1.weight"] = torch.zeros(3, 5, 1, 1)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(ModelError) as err:
        load_wav2lip(tmp_path / "shape.pth", dims=Wav2LipDims.tiny())
    assert "wrong shape" in _one_sentence(err.value)
    state = dict(tiny_model.state_dict())
    state["face_encoder_blocks.7.0.conv_block.0.weight"] = torch.zeros(1)  # a 288×288 variant
    torch.save(state, tmp_path / "hd.pth")
    with pytest.raises(ModelError) as err:
        load_wav2lip(tmp_path / "hd.pth", dims=Wav2LipDims.tiny())
    assert "not a 96×96 Wav2Lip generator" in _one_sentence(err.value)


def test_non_finite_weights(tmp_path, tiny_model):
    state = dict(tiny_model.state_dict())
    state["output_block.1.bias"] = torch.tensor([float("nan"), 0.0, 0.0])
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(ModelError) as err:
        load_wav2lip(tmp_path / "nan.pth")
    assert "NaN" in _one_sentence(err.value)


def test_half_precision_files_load_as_float(tmp_path, tiny_model):
    state = {
        k: (v.half() if v.is_floating_point() else v) for k, v in tiny_model.state_dict().items()
    }
    torch.save({"state_dict": state}, tmp_path / "half.pth")
    model = load_wav2lip(tmp_path / "half.pth")
    assert next(model.parameters()).dtype == torch.float32
    assert isinstance(model, Wav2Lip)
