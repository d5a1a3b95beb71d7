"""The weights manager, tested up to the network boundary (nothing is downloaded)."""

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

CONTENT = b"not really a checkpoint, but bytes with a known hash\n" * 100
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home


@pytest.fixture
def small_spec(monkeypatch):
    """Register 'wav2lip' as a small file whose hash the tests know."""
    spec = dataclasses.replace(
        W.REGISTRY["wav2lip"], sha256=hashlib.sha256(CONTENT).hexdigest(), size=len(CONTENT)
    )
    monkeypatch.setitem(W.REGISTRY, "wav2lip", spec)
    return spec


def _put_in_cache(cache: Path, spec: W.WeightSpec, data: bytes) -> Path:
    """Lay a file out exactly as huggingface_hub does: blob, snapshot link, ref."""
    repo = cache / f"models--{spec.repo_id.replace('/', '--')}"
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    # A revision that is a commit names its snapshot directly; a branch goes through refs/.
    pinned = len(spec.revision) == 40
    commit = spec.revision if pinned else COMMIT
    snap = repo / "snapshots" / commit / spec.filename
    snap.parent.mkdir(parents=True)
    snap.symlink_to(Path("../" * (spec.filename.count("/") + 2)) / "blobs" / blob.name)
    if not pinned:
        (repo / "refs").mkdir()
        (repo / "refs" / spec.revision).write_text(COMMIT)
    return snap


def _one_sentence(text: str) -> str:
    assert "\n" not in text and text.endswith(".")
    assert len(re.findall(r"[.;]\s+[A-Z]", text)) == 0  # one sentence, not two
    return text


def test_registry_entries_are_complete():
    assert {"wav2lip", "wav2lip_gan", "syncnet_v2"} <= set(W.REGISTRY)
    for name, spec in W.REGISTRY.items():
        assert spec.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert "/" in spec.repo_id and spec.filename and spec.revision
        assert spec.license and spec.license_text and spec.used_by
    assert W.REGISTRY["wav2lip"].size == 435_807_851
    assert W.REGISTRY["wav2lip_gan"].size == 435_801_865
    assert "non-commercial" in W.REGISTRY["wav2lip"].license
    assert W.REGISTRY["wav2lip"].manual_option == "--wav2lip-checkpoint"


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert W.cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub2"))
    assert W.cache_dir() == tmp_path / "hub2"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert W.cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"


def test_offline_flag_is_read_when_called(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert W.is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not W.is_offline()


def test_explicit_path(tmp_path):
    f = tmp_path / "mine.pth"
    f.write_bytes(b"x")
    assert W.resolve("wav2lip", f) == f
    with pytest.raises(ModelError, match="does not exist"):
        W.resolve("wav2lip", tmp_path / "other.pth")


def test_missing_weights_name_the_command(hf_home):
    with pytest.raises(W.MissingWeightsError) as err:
        W.resolve("wav2lip_gan")
    text = _one_sentence(str(err.value))
    assert "wav2lip_gan.pth" in text and "436 MB" in text
    assert "`avatar weights download wav2lip_gan`" in text
    assert "--wav2lip-checkpoint PATH" in text


def test_missing_weights_offline(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(W.MissingWeightsError) as err:
        W.resolve("wav2lip")
    text = _one_sentence(str(err.value))
    assert "HF_HUB_OFFLINE" in text and "avatar weights download wav2lip" in text


def test_finds_a_cached_download(hf_home, small_spec, monkeypatch):
    snap = _put_in_cache(hf_home / "hub", small_spec, CONTENT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache alone is enough
    assert W.resolve("wav2lip") == snap
    assert W.verify("wav2lip") == snap
    assert [r["downloaded"] for r in W.status() if r["name"] == "wav2lip"] == [True]


def test_incomplete_cached_file(hf_home, small_spec):
    _put_in_cache(hf_home / "hub", small_spec, CONTENT[:100])
    with pytest.raises(W.MissingWeightsError, match="incomplete"):
        W.resolve("wav2lip")


def test_verify_catches_a_changed_file(hf_home, small_spec):
    _put_in_cache(hf_home / "hub", small_spec, CONTENT[::-1])  # same size, other bytes
    with pytest.raises(ModelError, match="sha256"):
        W.verify("wav2lip")


def test_download_needs_the_licence(hf_home):
    with pytest.raises(W.LicenseNotAcceptedError) as err:
        W.download("wav2lip")
    assert "--accept-license" in _one_sentence(str(err.value))
    shown = []
    with pytest.raises(W.LicenseNotAcceptedError):
        W.download("wav2lip", accept_license=lambda spec: shown.append(spec) or False)
    assert shown and "non-commercial" in shown[0].license_text


def test_download_offline(hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(W.MissingWeightsError, match="HF_HUB_OFFLINE"):
        W.download("wav2lip", accept_license=True)


def _fake_hub(data: bytes, calls: list):
    real = hf.file_download.hf_hub_download

    def fake_download(repo_id, filename, *, revision, cache_dir, **kw):
        if kw.get("local_files_only"):  # cache look-ups are real
            return real(repo_id, filename, revision=revision, cache_dir=cache_dir, **kw)
        calls.append((repo_id, filename, revision, Path(cache_dir), kw))
        spec = next(s for s in W.REGISTRY.values() if s.filename == filename)
        return str(_put_in_cache(Path(cache_dir), spec, data))

    return fake_download


def test_download_verifies_the_hash(hf_home, small_spec, monkeypatch):
    calls: list = []
    monkeypatch.setattr(hf, "hf_hub_download", _fake_hub(CONTENT, calls))
    path = W.download("wav2lip", accept_license=True, progress=False)
    assert path.read_bytes() == CONTENT
    repo_id, filename, revision, cache, _ = calls[0]
    assert (repo_id, filename) == ("Nekochu/Wav2Lip", "wav2lip.pth")
    assert len(revision) == 40  # a pinned commit, not a branch
    assert cache == hf_home / "hub"  # HF_HOME respected
    # already there and intact: no second download
    calls.clear()
    monkeypatch.setattr(hf, "hf_hub_download", _real_local_only(calls))
    assert W.download("wav2lip", accept_license=True, progress=False) == path
    assert all(kw.get("local_files_only") for *_, kw in calls)


def _real_local_only(calls):
    real = hf.file_download.hf_hub_download

    def wrapper(*args, **kw):
        calls.append((*args, None, None, kw))
        assert kw.get("local_files_only"), "tried the network"
        return real(*args, **kw)

    return wrapper


def test_a_corrupt_download_is_deleted(hf_home, small_spec, monkeypatch):
    bad = b"x" * len(CONTENT)
    monkeypatch.setattr(hf, "hf_hub_download", _fake_hub(bad, []))
    with pytest.raises(ModelError) as err:
        W.download("wav2lip", accept_license=True, progress=False)
    assert "deleted" in _one_sentence(str(err.value))
    blobs = list((hf_home / "hub").rglob("blobs/*"))
    assert blobs == []


def test_no_connection(hf_home, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def unreachable(*a, **kw):
        raise LocalEntryNotFoundError("cannot reach the Hub and not in the cache")

    monkeypatch.setattr(hf, "hf_hub_download", unreachable)
    with pytest.raises(W.MissingWeightsError) as err:
        W.download("wav2lip_gan", accept_license=True)
    assert "no connection" in _one_sentence(str(err.value))


def test_hub_errors_are_one_sentence(hf_home, monkeypatch):
    from huggingface_hub.errors import EntryNotFoundError

    def gone(*a, **kw):
        raise EntryNotFoundError("404")

    monkeypatch.setattr(hf, "hf_hub_download", gone)
    with pytest.raises(ModelError) as err:
        W.download("wav2lip", accept_license=True)
    assert "has no file wav2lip.pth" in _one_sentence(str(err.value))


def test_unknown_name():
    with pytest.raises(Exception, match="Unknown weights"):
        W.resolve("nope")


# -- the `avatar weights` command -------------------------------------------------------


def test_cli_list(capsys, hf_home):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name in W.REGISTRY:
        assert name in out
    assert "missing" in out and "non-commercial" in out and str(hf_home / "hub") in out


def test_cli_path_and_verify(capsys, hf_home, small_spec):
    assert main(["weights", "path", "wav2lip"]) != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "avatar weights download wav2lip" in err
    snap = _put_in_cache(hf_home / "hub", small_spec, CONTENT)
    assert main(["weights", "path", "wav2lip"]) == 0
    assert capsys.readouterr().out.strip() == str(snap)
    assert main(["weights", "verify", "-q"]) == 0
    out = capsys.readouterr().out
    assert "wav2lip: ok" in out and "wav2lip_gan: not downloaded" in out


def test_cli_download_shows_the_licence_first(capsys, hf_home, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    called = []
    monkeypatch.setattr(hf, "hf_hub_download", lambda *a, **k: called.append(1))
    assert main(["weights", "download", "wav2lip"]) != 0
    captured = capsys.readouterr()
    assert "non-commercial" in captured.out  # the licence was shown
    assert "--accept-license" in captured.err and not called


def test_cli_download_offline(capsys, hf_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["weights", "download", "wav2lip", "--accept-license"]) != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "HF_HUB_OFFLINE" in err
