"""Who renders the rows: this process, a pool of local processes, or a Ray cluster.

Every executor takes checked Jobs and calls ``on_result`` with each row's result as
it arrives (the driver's progress bar); a row whose worker process dies is run once
more on a fresh worker, then reported.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from urllib.parse import urlparse

from avatar.batch.jobs import Job
from avatar.batch.report import RowResult
from avatar.batch.worker import load_factory, render_in_this_process
from avatar.errors import AvatarError

OnResult = Callable[[RowResult], None]
RETRIES = 1  # a row whose worker dies is tried this many more times
#: Environment a cluster's workers get from the driver: credentials, endpoints, caches.
FORWARDED_ENV = ("AWS_", "FSSPEC_", "GOOGLE_", "HF_", "TORCH_HOME", "AVATAR_", "GRADIO_")


def _died(job: Job, how: str) -> RowResult:
    return RowResult(
        job.row,
        job.name,
        "failed",
        0.0,
        f"The worker rendering this row {how}, twice (tried again once); the rest went on.",
    )


def run_sequential(jobs: list[Job], on_result: OnResult, pipeline=None, factory=None) -> None:
    """In this process, one row after another (models loaded once)."""
    worker = load_factory(factory)(pipeline) if pipeline is not None else load_factory(factory)()
    for job in jobs:
        on_result(worker(job))


# ------------------------------------------------------------------------ process pool


def _pool_main(conn, factory: str | None, threads: int) -> None:
    """A pool process: render each Job it is sent, answer with its RowResult."""
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            result = render_in_this_process(job, factory, threads)
        except Exception as exc:  # noqa: BLE001 - e.g. the worker factory cannot be imported
            result = RowResult(job.row, job.name, "failed", 0.0, f"{type(exc).__name__}: {exc}")
        conn.send(result)


class _PoolProcess:
    def __init__(self, ctx, factory: str | None, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_pool_main, args=(child, factory, threads), daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None

    def send(self, job: Job) -> None:
        self.job = job
        self.conn.send(job)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def run_pool(
    jobs: list[Job], on_result: OnResult, workers: int, factory: str | None = None
) -> None:
    """``workers`` local processes (spawned: no inherited threads), each keeping its models."""
    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = deque(jobs)
    tries: dict[int, int] = {}
    pool = [_PoolProcess(ctx, factory, threads) for _ in range(min(workers, len(jobs)))]
    try:
        for proc in pool:
            if pending:
                proc.send(pending.popleft())
        while any(p.job is not None for p in pool):
            busy = [p for p in pool if p.job is not None]
            ready = wait([p.conn for p in busy] + [p.process.sentinel for p in busy])
            for proc in busy:
                if proc.conn in ready:
                    try:
                        result = proc.conn.recv()
                    except (EOFError, OSError):
                        result = None  # died while answering: handled below
                    if result is not None:
                        proc.job = None
                        on_result(result)
                        if pending:
                            proc.send(pending.popleft())
                        continue
                if proc.process.sentinel in ready or not proc.process.is_alive():
                    proc.process.join(timeout=1)
                    job = proc.job
                    assert job is not None
                    tries[job.row] = tries.get(job.row, 0) + 1
                    code = proc.process.exitcode
                    pool.remove(proc)
                    if tries[job.row] <= RETRIES:
                        pending.appendleft(job)
                    else:
                        on_result(_died(job, f"died (exit code {code})"))
                    if pending:
                        fresh = _PoolProcess(ctx, factory, threads)
                        pool.append(fresh)
                        fresh.send(pending.popleft())
    finally:
        for proc in pool:
            proc.stop()


# -------------------------------------------------------------------------------- Ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """One sentence (exit 2) when nothing answers at a Ray address, before ray.init waits."""
    target = address if "://" in address else f"ray://{address}"
    parsed = urlparse(target)
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise AvatarError(f"The Ray address '{address}' is not host:port (or ray://host:port).")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise AvatarError(
            f"Cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one "
            "with `ray start --head`, or unset RAY_ADDRESS to run on this machine."
        ) from exc


def _runtime_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    path = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    return {"env_vars": env}


def connect_ray(address: str | None):
    """(ray module, started_here): join ``address`` (or RAY_ADDRESS), else start a local
    instance listening on 127.0.0.1 only."""
    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    if address is None:
        # Ray binds its servers to the node address; on Linux it would pick the machine's
        # outward IP. This switch (Ray's own, named for laptops) keeps a local instance on
        # the loopback interface, so a batch never opens ports to the network.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    else:
        check_reachable(address)
    try:
        import ray
    except ImportError as exc:
        raise AvatarError(
            'Batches on Ray need the ray package; install it with `pip install -e ".[cluster]"`.'
        ) from exc
    kwargs = dict(runtime_env=_runtime_env(), log_to_driver=False, configure_logging=False)
    if address is None:
        ray.init(address="local", include_dashboard=False, **kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError) as exc:
            raise AvatarError(f"Cannot join the Ray cluster at {address}: {exc}.") from exc
    return ray, address is None


def _ray_render(job: Job, factory: str | None, threads: int) -> RowResult:
    return render_in_this_process(job, factory, threads)


def run_ray(
    jobs: list[Job],
    on_result: OnResult,
    address: str | None,
    workers: int | None = None,
    factory: str | None = None,
    cpus_per_row: float = 1.0,
) -> None:
    """One Ray task per row; each Ray worker process keeps its models and portraits.

    At most ``workers`` rows run at once (default: the cluster's CPUs / ``cpus_per_row``).
    A task whose worker dies is retried once by Ray itself (``max_retries``); a second
    death is the row's failure.
    """
    ray, started = connect_ray(address)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        limit = workers or max(1, int(cpus // cpus_per_row))
        threads = max(1, int(cpus_per_row))
        remote = ray.remote(num_cpus=cpus_per_row, max_retries=RETRIES)(_ray_render)
        pending = deque(jobs)
        running: dict = {}
        while pending or running:
            while pending and len(running) < limit:
                job = pending.popleft()
                running[remote.remote(job, factory, threads)] = job
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job = running.pop(ref)
                try:
                    on_result(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    on_result(_died(job, f"failed in Ray ({type(exc).__name__})"))
    finally:
        if started:
            ray.shutdown()
