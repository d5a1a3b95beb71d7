"""Analysed portraits kept by content, so the preview's analysis serves the render too."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from avatar.errors import ImageError
from avatar.weights import sha256_file


def file_digest(path: str | Path) -> str:
    """The cache key of a photo: its content's sha256 (the same photo under any name)."""
    return sha256_file(path)


class RigCache:
    """FaceRigs by (content hash, face index), least recently used out first.

    A photo is analysed once, when it is uploaded (for the preview); the
    generation that follows reuses the rig.
    """

    def __init__(self, analyze: Callable | None = None, max_items: int = 8) -> None:
        if analyze is None:
            from avatar.face import analyze_portrait

            analyze = analyze_portrait
        self._analyze = analyze
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: str | Path, face_index: int = 0):
        try:
            key = (file_digest(path), int(face_index))
        except OSError as exc:
            raise ImageError(
                "The portrait file could not be read; please upload it again."
            ) from exc
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        rig = self._analyze(path, face_index=int(face_index))
        with self._lock:
            self.misses += 1
            self._items[key] = rig
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return rig

    def __len__(self) -> int:
        return len(self._items)
