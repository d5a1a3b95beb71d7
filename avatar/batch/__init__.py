"""`avatar batch jobs.csv --out DIR|URL`: one video per row, on this machine or a Ray cluster.

    report = run_batch("jobs.csv", "videos/")                     # this process
    report = run_batch("jobs.csv", "videos/", workers=2)          # two local processes
    report = run_batch("jobs.yaml", "s3://bucket/videos", ray="auto")  # Ray (RAY_ADDRESS or local)

Every row is checked before anything renders (unknown columns, missing inputs, bad or
repeated output names, an output that cannot be written): each bad row gets one line
naming the row and the cause, and the rest go on. A rerun skips rows whose video is
complete for the same inputs and settings. See :mod:`avatar.batch.jobs` for the columns.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from avatar.batch.jobs import Job, plan_jobs, read_jobs
from avatar.batch.report import BatchReport, RowResult
from avatar.batch.store import OutputStore
from avatar.errors import AvatarError
from avatar.settings import GenerationSettings

__all__ = ["BatchReport", "Job", "RowResult", "default_workers", "read_jobs", "run_batch"]


#: Resident memory of one worker rendering 512² (measured: 0.71 GB), with headroom.
WORKER_MEMORY = 1.0 * 2**30


def default_workers(rows: int) -> int:
    """One local process per core, as far as the free memory and the rows allow."""
    cores = os.cpu_count() or 1
    try:
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on Linux: trust the cores
        free = cores * WORKER_MEMORY
    return max(1, min(cores, rows, int(free // WORKER_MEMORY)))


def run_batch(
    jobs: str | Path,
    out: str | Path,
    *,
    quiet: bool = False,
    pipeline=None,
    base: GenerationSettings | None = None,
    workers: int | None = None,
    ray: str | None = None,
    worker_factory: str | None = None,
    cpus_per_row: float = 1.0,
) -> BatchReport:
    """Make every row's video; never raises for one row's failure (see the report).

    ``ray`` is ``"auto"`` (the cluster in ``RAY_ADDRESS``, else a local Ray on
    127.0.0.1) or a cluster address, each row a Ray task of ``cpus_per_row`` CPUs.
    Without it, rows run on a local process pool of ``workers`` processes (default
    :func:`default_workers`); 1 renders in this process, reusing ``pipeline`` if given
    (a ``pipeline`` given means this process).
    ``worker_factory`` ("module:callable") replaces the row worker (tests, custom
    pipelines); it must be importable on every worker.
    """
    from tqdm import tqdm

    from avatar.batch.executors import run_pool, run_ray, run_sequential

    if workers is not None and workers < 1:
        raise AvatarError("--workers must be at least 1.")
    t0 = time.perf_counter()
    jobs = Path(jobs)
    rows = read_jobs(jobs)
    if not rows:
        raise AvatarError(f"The jobs file {jobs} has no rows.")
    base = (base or GenerationSettings()).updated(overwrite=True)
    store_url = str(out)
    planned, failed = plan_jobs(rows, jobs.parent, store_url, base)
    if planned:
        try:
            OutputStore(store_url).check_writable()
        except AvatarError as exc:  # every row would fail the same way: say so per row
            failed += [RowResult(j.row, j.name, "failed", 0.0, str(exc)) for j in planned]
            planned = []
    if not ray and workers is None:
        workers = 1 if pipeline is not None else default_workers(len(planned))
    if ray:
        executor = f"ray ({ray})"
    else:
        executor = f"{workers} local processes" if workers > 1 else "sequential"
    report = BatchReport(rows=list(failed), executor=executor)
    bar = tqdm(total=len(rows), desc="Videos", unit="video", disable=quiet, file=sys.stderr)
    bar.update(len(failed))

    def on_result(result: RowResult) -> None:
        report.rows.append(result)
        bar.update(1)

    try:
        if planned and ray:
            run_ray(planned, on_result, ray, workers, worker_factory, cpus_per_row)
        elif planned and workers > 1:
            run_pool(planned, on_result, workers, worker_factory)
        elif planned:
            run_sequential(planned, on_result, pipeline, worker_factory)
    finally:
        bar.close()
    report.rows.sort(key=lambda r: r.row)
    report.seconds = time.perf_counter() - t0
    return report
