"""The LivePortrait entries of the weights registry, tested up to the network boundary.

Like tests/test_weights.py nothing is downloaded: the Hugging Face cache is laid out by
hand (blobs, snapshot links, refs/main) with random checkpoints in the official format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest

from avatar import weights as W
from avatar.cli import main
from avatar.errors import ModelError

hf = pytest.importorskip("huggingface_hub")
pytest.importorskip("torch")

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
NAMES = W.GROUPS["liveportrait"]


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> Path:
    from avatar.render.liveportrait import LivePortraitDims, write_random_checkpoints

    return write_random_checkpoints(tmp_path_factory.mktemp("lp"), LivePortraitDims.tiny())


@pytest.fixture
def tiny_specs(tiny_files, monkeypatch):
    """Register the five LivePortrait entries with the tiny files' hashes and sizes."""
    for name in NAMES:
        data = (tiny_files / W.REGISTRY[name].filename).read_bytes()
        spec = dataclasses.replace(
            W.REGISTRY[name], sha256=hashlib.sha256(data).hexdigest(), size=len(data)
        )
        monkeypatch.setitem(W.REGISTRY, name, spec)
    return tiny_files


def _put_in_cache(cache: Path, spec: W.WeightSpec, data: bytes) -> Path:
    """huggingface_hub's layout for a branch revision: blob, snapshot link, refs/<branch>."""
    repo = cache / f"models--{spec.repo_id.replace('/', '--')}"
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snap = repo / "snapshots" / COMMIT / spec.filename
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.symlink_to(Path("../" * (spec.filename.count("/") + 2)) / "blobs" / blob.name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / spec.revision).write_text(COMMIT)
    return snap


def _one_sentence(text: str) -> str:
    assert "\n" not in text and text.endswith(".")
    assert not re.search(r"[.;]\s+[A-Z]", text), text
    return text


def test_registry_has_the_five_released_files():
    from avatar.render.liveportrait import FILES

    specs = [W.REGISTRY[n] for n in NAMES]
    assert len(specs) == 5
    assert {s.filename for s in specs} == set(FILES.values())
    assert {s.repo_id for s in specs} == {"KwaiVGI/LivePortrait"}
    sha = {s.filename.rsplit("/", 1)[1]: s.sha256 for s in specs}
    assert sha["spade_generator.pth"].startswith("4780afc7909a")
    assert sha["stitching_retargeting_module.pth"].startswith("3652d5a3f950")
    assert W.REGISTRY["liveportrait_warping"].size == 182_180_086
    for spec in specs:
        assert spec.license == "MIT" and spec.manual_option == "--liveportrait-dir"
        assert "InsightFace" in spec.license_text and "not" in spec.license_text
    assert W.expand(["liveportrait", "wav2lip", "liveportrait_motion"]) == [*NAMES, "wav2lip"]


def test_explicit_folder(tiny_files, tmp_path):
    assert W.liveportrait_dir(tiny_files) == tiny_files
    with pytest.raises(ModelError) as err:
        W.liveportrait_dir(tmp_path)
    text = _one_sentence(str(err.value))
    assert "has no liveportrait/base_models/appearance_feature_extractor.pth" in text
    assert "4 more" in text and "avatar weights download liveportrait" in text


def test_missing_download_is_one_sentence(hf_home):
    with pytest.raises(W.MissingWeightsError) as err:
        W.liveportrait_dir(None)
    text = _one_sentence(str(err.value))
    assert "`avatar weights download liveportrait`" in text and "--liveportrait-dir" in text
    assert "520 MB" in text


def test_missing_download_offline(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(W.MissingWeightsError, match="HF_HUB_OFFLINE"):
        W.liveportrait_dir(None)


def test_cached_snapshot_is_the_folder_and_loads(hf_home, tiny_specs, monkeypatch):
    from avatar.render.liveportrait import LivePortraitDims, load_liveportrait

    for name in NAMES[:-1]:
        spec = W.REGISTRY[name]
        _put_in_cache(hf_home / "hub", spec, (tiny_specs / spec.filename).read_bytes())
    with pytest.raises(W.MissingWeightsError):  # four of five is not enough
        W.liveportrait_dir(None)
    spec = W.REGISTRY[NAMES[-1]]
    _put_in_cache(hf_home / "hub", spec, (tiny_specs / spec.filename).read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache alone is enough
    folder = W.liveportrait_dir(None)
    assert folder.name == COMMIT and folder.parent.name == "snapshots"
    models = load_liveportrait(folder, dims=LivePortraitDims.tiny())  # through the symlinks
    assert models.parameter_count() > 0


def _fake_hub(data_for, calls: list):
    real = hf.file_download.hf_hub_download

    def fake_download(repo_id, filename, *, revision, cache_dir, **kw):
        if kw.get("local_files_only"):
            return real(repo_id, filename, revision=revision, cache_dir=cache_dir, **kw)
        calls.append((repo_id, filename, revision))
        spec = next(s for s in W.REGISTRY.values() if s.filename == filename)
        return str(_put_in_cache(Path(cache_dir), spec, data_for(filename)))

    return fake_download


def test_cli_downloads_the_group(capsys, hf_home, tiny_specs, monkeypatch):
    calls: list = []
    monkeypatch.setattr(
        hf, "hf_hub_download", _fake_hub(lambda f: (tiny_specs / f).read_bytes(), calls)
    )
    assert main(["weights", "download", "liveportrait", "--accept-license", "-q"]) == 0
    assert [c[1] for c in calls] == [W.REGISTRY[n].filename for n in NAMES]
    assert {c[0] for c in calls} == {"KwaiVGI/LivePortrait"} and {c[2] for c in calls} == {"main"}
    capsys.readouterr()
    assert main(["weights", "path", "liveportrait"]) == 0
    assert capsys.readouterr().out.strip() == str(W.liveportrait_dir(None))


def test_cli_shows_the_licence_once_for_the_group(capsys, hf_home, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    called = []
    monkeypatch.setattr(hf, "hf_hub_download", lambda *a, **k: called.append(1))
    assert main(["weights", "download", "liveportrait"]) != 0
    captured = capsys.readouterr()
    assert captured.out.count("Licence:") == 1 and "MIT" in captured.out
    assert "--accept-license" in captured.err and not called
