"""One progress bar across the pipeline's stages, and the ways a render is cancelled."""

from __future__ import annotations

import threading
from collections.abc import Callable

from avatar.webapp.messages import Cancelled

#: Rough share of the wall time each pipeline stage takes (measured on 2 CPU cores),
#: so one bar moves evenly across the stages.
STAGE_WEIGHTS = {
    "face": 0.05,
    "audio": 0.07,
    "speech": 0.25,
    "motion": 0.03,
    "refine": 0.05,
    "render": 0.60,
}


class CancelFlags:
    """Per-session renders in progress and cancel requests from the Cancel button
    (thread-safe)."""

    def __init__(self) -> None:
        self._set: set[str] = set()
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self, session: str | None) -> None:
        """A render begins for ``session``: any earlier cancel request is forgotten."""
        if session:
            with self._lock:
                self._set.discard(session)
                self._running.add(session)

    def finish(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._running.discard(session)

    def request(self, session: str | None) -> bool:
        """Ask ``session``'s render to stop; False when it has none running."""
        if not session:
            return False
        with self._lock:
            if session not in self._running:
                return False
            self._set.add(session)
            return True

    def clear(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._set.discard(session)

    def is_set(self, session: str | None) -> bool:
        with self._lock:
            return bool(session) and session in self._set


def gradio_event_cancelled() -> bool:
    """True when the gradio event this thread serves was cancelled or its client left.

    Gradio cancels the asyncio task but cannot stop the worker thread; the
    pipeline's progress callback calls this so the render stops too. Best
    effort: False whenever it cannot tell.
    """
    try:
        from gradio.context import LocalContext

        blocks = LocalContext.blocks.get(None)
        event_id = LocalContext.event_id.get(None)
        if blocks is None or not event_id:
            return False
        queue = getattr(blocks, "_queue", None)
        events = getattr(queue, "event_ids_to_events", None)
        if events is None:
            return False
        return event_id not in events
    except Exception:  # noqa: BLE001
        return False


class ProgressReporter:
    """The pipeline's ``progress(stage, fraction)`` mapped onto one bar that names the stage.

    ``sink(fraction, desc)`` is ``gr.Progress`` (or anything with that call
    signature). The overall fraction never goes backwards. ``cancelled()`` is
    polled on every report; when it says so, ``Cancelled`` is raised, which
    stops the pipeline (the video writer removes its partial file).
    """

    def __init__(
        self,
        sink: Callable | None = None,
        cancelled: Callable[[], bool] | None = None,
        stages: tuple[str, ...] | None = None,
        labels: dict[str, str] | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        if stages is None or labels is None:
            from pipelines import STAGE_LABELS, STAGES

            stages = stages or STAGES
            labels = labels or STAGE_LABELS
        self.stages = tuple(stages)
        self.labels = dict(labels)
        w = weights or STAGE_WEIGHTS
        total = sum(w.get(s, 0.1) for s in self.stages)
        self.weights = {s: w.get(s, 0.1) / total for s in self.stages}
        self.sink = sink
        self.cancelled = cancelled
        self.fraction = 0.0
        self.history: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled("cancelled")
        if stage not in self.weights:
            return
        i = self.stages.index(stage)
        before = sum(self.weights[s] for s in self.stages[:i])
        overall = before + self.weights[stage] * min(1.0, max(0.0, float(fraction)))
        self.fraction = max(self.fraction, min(1.0, overall))
        desc = f"{self.labels.get(stage, stage)} (step {i + 1} of {len(self.stages)})"
        self.history.append((stage, self.fraction))
        if self.sink is not None:
            self.sink(self.fraction, desc=desc)
