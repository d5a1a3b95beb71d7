"""Where a batch's videos go: a local folder or any fsspec URL, never half-written.

A local folder gets each video under a temporary name in its own folder, then
``os.replace``d into place (atomic on one file system). An object store (``s3://``,
``gs://``...) gets one upload per video, which the store makes visible only when it is
complete. Next to each video a small ``.<name>.hash`` records the content hash of the
inputs and settings that made it, written after the video: a rerun skips a row whose
video and hash are both there and agree.

S3 credentials and endpoints come from the usual places (``AWS_*`` variables,
``~/.aws``, ``AWS_ENDPOINT_URL`` for MinIO or a test server); ``s3://`` needs s3fs and
``gs://`` gcsfs installed (``pip install -e ".[cluster]"`` brings s3fs).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from avatar.errors import AvatarError, OutputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _filesystem(url: str):
    """(fsspec filesystem, root path inside it) for a folder or URL."""
    import fsspec

    try:
        # A fresh instance without directory listings cached: several workers write to the
        # same store, and credentials or endpoints may change between batches in a process.
        return fsspec.core.url_to_fs(url, skip_instance_cache=True, use_listings_cache=False)
    except ImportError as exc:  # e.g. "Install s3fs to access S3"
        raise OutputError(f"Cannot use {url}: {exc}.") from exc
    except ValueError as exc:  # unknown protocol
        raise OutputError(f"Cannot use {url}: {exc}.") from exc


def _is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def url_exists(url: str) -> bool:
    fs, path = _filesystem(url)
    try:
        return bool(fs.isfile(path))
    except Exception:  # noqa: BLE001 - unreachable or forbidden counts as not there
        return False


def fetch(url: str, folder: str | Path) -> Path:
    """A local copy of an input URL in ``folder`` (a local path is returned as it is)."""
    if "://" not in url or url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    fs, path = _filesystem(url)
    target = Path(folder) / f"{uuid.uuid4().hex[:8]}-{Path(path).name}"
    try:
        fs.get_file(path, str(target))
    except Exception as exc:  # noqa: BLE001 - any store's error, as one sentence
        raise AvatarError(f"Cannot fetch {url}: {exc}.") from exc
    return target


class OutputStore:
    """A batch's output folder or URL: complete videos only, each with its inputs' hash."""

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        self.fs, root = _filesystem(self.url)
        self.root = root.rstrip("/")
        self.local = _is_local(self.fs)

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def display(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"

    def _hash_path(self, name: str) -> str:
        head, _, tail = name.rpartition("/")
        return self.path(f"{head}/.{tail}.hash" if head else f".{tail}.hash")

    def check_writable(self) -> None:
        """Write and delete a probe, so an unwritable target is known before any rendering."""
        probe = self.path(f".avatar-write-probe-{uuid.uuid4().hex[:8]}")
        try:
            if self.local:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            self.fs.pipe_file(probe, b"probe")
            self.fs.rm_file(probe)
        except Exception as exc:  # noqa: BLE001 - permissions, missing bucket, no network
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise OutputError(f"Cannot write to {self.url}: {reason}.") from exc

    def is_complete(self, name: str, digest: str) -> bool:
        """The video is there and was made from the same inputs and settings."""
        try:
            if not self.fs.isfile(self.path(name)):
                return False
            return self.fs.cat_file(self._hash_path(name)).decode().strip() == digest
        except (FileNotFoundError, OSError, UnicodeDecodeError):
            return False

    def put(self, local_file: Path, name: str, digest: str) -> None:
        """Publish a finished video under ``name``, then its hash (never a partial file)."""
        target, hash_path = self.path(name), self._hash_path(name)
        try:
            if self.fs.exists(hash_path):
                self.fs.rm_file(hash_path)  # a crash from here on leaves no false "complete"
            if self.local:
                folder = Path(target).parent
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{Path(name).name}.", suffix=".part", dir=folder
                )
                os.close(fd)
                try:
                    shutil.copyfile(local_file, tmp)
                    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; publish as usual
                    os.replace(tmp, target)
                finally:
                    Path(tmp).unlink(missing_ok=True)
            else:
                self.fs.put_file(str(local_file), target)
            self.fs.pipe_file(hash_path, (digest + "\n").encode())
        except OSError as exc:
            raise OutputError(f"Cannot write {self.display(name)}: {exc.strerror or exc}.") from exc
        except Exception as exc:  # noqa: BLE001 - object stores raise their own types
            raise OutputError(f"Cannot write {self.display(name)}: {exc}.") from exc

    def names(self) -> list[str]:
        """Every video under the root (for summaries and tests)."""
        found = self.fs.find(self.root) if self.fs.exists(self.root) else []
        out = []
        for p in found:
            rel = p[len(self.root) :].lstrip("/")
            if not Path(rel).name.startswith(".") and rel.lower().endswith(
                (".mp4", ".m4v", ".mov")
            ):
                out.append(rel)
        return sorted(out)
