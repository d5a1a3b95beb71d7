"""A row worker for the batch tests whose process dies on chosen rows (a killed worker)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from avatar.batch.worker import RowWorker


class DyingWorker(RowWorker):
    """Kills its own process on a row whose text says "die always", and on the first try
    of one that says "die once" (a marker file remembers the try across processes)."""

    def __call__(self, job):
        text = (job.spoken or {}).get("text", "")
        marker = Path(os.environ["AVATAR_TEST_MARKERS"]) / f"row{job.row}"
        if "die always" in text or ("die once" in text and not marker.exists()):
            marker.touch()
            os._exit(3)
        return super().__call__(job)


def write_csv(path, rows):
    """A jobs.csv with the union of the rows' columns."""
    keys = sorted({k for r in rows for k in r})
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path
