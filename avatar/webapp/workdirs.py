"""Per-request work folders under one private root, swept when old and removed at exit."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

JOB_PREFIX = "job-"


class WorkDirs:
    """One folder per request under a private root; old ones are swept, all removed at exit."""

    def __init__(self, root: str | Path | None = None, max_age_s: float = 3600.0) -> None:
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="talking-avatar-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(self.cleanup_all)

    def new(self) -> Path:
        self.sweep()
        return Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=self.root))

    def sweep(self, now: float | None = None) -> int:
        """Remove job folders older than ``max_age_s``; returns how many went.

        Only job folders: the example cache lives beside them and must outlast them
        (swept, the cached example would break an hour after the first click).
        """
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            for child in self.root.iterdir() if self.root.exists() else ():
                try:
                    old = now - child.stat().st_mtime > self.max_age_s
                    if child.name.startswith(JOB_PREFIX) and child.is_dir() and old:
                        shutil.rmtree(child, ignore_errors=True)
                        removed += 1
                except OSError:
                    continue
        return removed

    def discard(self, path: Path) -> None:
        if path.parent == self.root:
            shutil.rmtree(path, ignore_errors=True)

    def cleanup_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def output_name(image_path: str | Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(image_path)).stem).strip("_")[:40]
    return f"talking_{stem or 'portrait'}.mp4"
