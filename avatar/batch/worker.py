"""One worker's side of a batch: models loaded once, each portrait analysed once.

A ``RowWorker`` lives as long as its process (the driver itself, a pool process or a
Ray worker). It fetches a row's inputs by path or URL, hashes them with the settings,
skips the row when the store already holds that very video, else speaks or loads the
voice, reuses the portrait's analysis when the same image (by sha256) came before,
renders into a local temporary file and publishes it to the store.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path

from avatar.batch.jobs import Job
from avatar.batch.report import RowResult
from avatar.batch.store import OutputStore, fetch
from avatar.errors import AvatarError


def content_hash(image: bytes, audio: bytes | None, spoken: dict | None, settings) -> str:
    """The hash a finished video is recorded with: inputs' bytes and the settings."""
    h = hashlib.sha256()
    h.update(image)
    if audio is not None:
        h.update(b"audio\0" + audio)
    else:
        h.update(b"text\0" + json.dumps(spoken, sort_keys=True).encode())
    d = settings.to_dict()
    d.pop("overwrite", None)
    d.pop("motion_defaulted", None)  # the same engine, chosen or by default, is the same video
    h.update(json.dumps(d, sort_keys=True, default=str).encode())
    return h.hexdigest()


class RowWorker:
    """Renders Jobs one at a time, keeping the pipeline and portrait analyses between rows."""

    def __init__(self, pipeline=None) -> None:
        self._pipeline = pipeline
        self.rigs: dict[tuple[str, int], object] = {}  # (image sha256, face index) -> rig
        self._stores: dict[str, OutputStore] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.rows_done = 0

    @property
    def pipeline(self):
        if self._pipeline is None:
            from pipelines import TalkingPortraitPipeline

            self._pipeline = TalkingPortraitPipeline()
        return self._pipeline

    def store(self, url: str) -> OutputStore:
        if url not in self._stores:
            self._stores[url] = OutputStore(url)
        return self._stores[url]

    def __call__(self, job: Job) -> RowResult:
        """The row's result; never raises for the row's own failure."""
        t = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="avatar-row-") as tmp:
                status, message = self._render(job, Path(tmp))
        except AvatarError as exc:
            status, message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the batch
            status, message = "failed", f"{type(exc).__name__}: {exc}"
        self.rows_done += 1
        return RowResult(job.row, job.name, status, time.perf_counter() - t, message, self.name)

    def _render(self, job: Job, tmp: Path) -> tuple[str, str]:
        from avatar.audio import load_audio

        image_path = fetch(job.image, tmp)
        image = image_path.read_bytes()
        audio_path = fetch(job.audio, tmp) if job.audio else None
        audio = audio_path.read_bytes() if audio_path else None
        settings = job.settings
        digest = content_hash(image, audio, job.spoken, settings)
        store = self.store(job.store)
        if store.is_complete(job.name, digest):
            return "skipped", "up to date"
        phones = None
        if job.spoken is not None:
            from avatar.speech.tts import synthesize

            result = synthesize(**job.spoken)
            speech, phones = result.speech, result.phones
            if not job.spoken.get("language"):
                settings = settings.updated(language=phones.language)
        else:
            speech = load_audio(audio_path, max_seconds=settings.max_audio_seconds)
        key = (hashlib.sha256(image).hexdigest(), settings.face_index)
        if key not in self.rigs:
            self.rigs[key] = self.pipeline.analyze_portrait(image_path, settings)
        local = tmp / Path(job.name).name
        out = self.pipeline(
            image_path, speech, settings, output=local, rig=self.rigs[key], phones=phones
        )
        store.put(local, job.name, digest)
        return "done", f"{out.audio_duration:.1f} s of speech"


def load_factory(spec: str | None):
    """``"module:attribute"`` -> a callable making a worker (``RowWorker`` by default)."""
    if not spec:
        return RowWorker
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


_PROCESS_WORKER: RowWorker | None = None


def render_in_this_process(job: Job, factory: str | None = None, threads: int | None = None):
    """Run ``job`` on this process's own worker, made on first use (pool and Ray workers)."""
    global _PROCESS_WORKER
    if _PROCESS_WORKER is None:
        if threads:
            limit_threads(threads)
        _PROCESS_WORKER = load_factory(factory)()
    return _PROCESS_WORKER(job)


def limit_threads(n: int) -> None:
    """Keep one worker to its share of the cores (torch, OpenCV), so workers do not fight."""
    import cv2

    cv2.setNumThreads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
