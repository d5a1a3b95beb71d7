"""Videos per hour for ten-second script rows at 512²: sequential, a local pool, Ray.

    python benchmarks/bench_batch.py                 # 12 rows per run, this machine
    python benchmarks/bench_batch.py --rows 24 --runs sequential pool2 ray1 ray2

Each run renders the same jobs file (one brand portrait, a different ~10 s English
script per row, espeak-ng speech) into a fresh folder and is timed from the call to
the last video, start-up included (spawning processes, starting Ray, loading models).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO.parent / "shared" / "data" / "portraits" / "cc0_codait_luciano.png"

SCRIPTS = [
    "Our new espresso machine heats up in thirty seconds, grinds fresh beans for every cup, "
    "and cleans itself overnight, so your mornings start with a perfect coffee.",
    "This week only, members save twenty percent on every order over fifty dollars. "
    "Sign in, fill your basket, and the discount appears at checkout automatically.",
    "Welcome to the team. Over the next few minutes I will show you where to find your "
    "schedule, how to book a day off, and who to call when something breaks.",
    "The spring collection is here: light jackets, bright colours and soft fabrics that "
    "keep you comfortable from the morning commute to dinner with friends.",
    "Your account is protected by two factor sign in. When you log in from a new device, "
    "we send a six digit code to your phone. Never share that code with anyone.",
    "Thank you for calling. Our opening hours are nine to six on weekdays and ten to four "
    "on Saturdays. You can also reach us any time through the chat on our website.",
]


def write_jobs(folder: Path, rows: int) -> Path:
    path = folder / "jobs.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "text", "output", "size"])
        w.writeheader()
        for i in range(rows):
            w.writerow(
                {
                    "image": str(PORTRAIT),
                    "text": SCRIPTS[i % len(SCRIPTS)] + ("" if i < len(SCRIPTS) else f" {i}."),
                    "output": f"row{i:03d}.mp4",
                    "size": "512",
                }
            )
    return path


def run(name: str, jobs: Path, out: Path) -> tuple[float, float, int]:
    from avatar.batch import run_batch

    kwargs: dict = {"workers": 1}
    if name.startswith("pool"):
        kwargs["workers"] = int(name[4:])
    elif name.startswith("ray"):
        kwargs["ray"] = "auto"
        kwargs["workers"] = int(name[3:])
    t = time.perf_counter()
    report = run_batch(jobs, out, quiet=True, **kwargs)
    seconds = time.perf_counter() - t
    if not report.ok:
        raise SystemExit(report.table())
    speech = sum(float(r.message.split()[0]) for r in report.rows if r.status == "done")
    return seconds, speech, report.count("done")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=12)
    p.add_argument("--runs", nargs="+", default=["sequential", "pool2", "ray1", "ray2"])
    a = p.parse_args()
    os.environ.pop("RAY_ADDRESS", None)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        jobs = write_jobs(work, a.rows)
        results = []
        for name in a.runs:
            out = work / f"out-{name}"
            seconds, speech, done = run(name, jobs, out)
            results.append((name, done, speech, seconds))
            print(f"{name}: {done} videos, {speech:.0f} s of speech in {seconds:.1f} s", flush=True)
        print(f"\n{a.rows} rows, 512², ~10 s scripts; {os.cpu_count()} cores")
        print(f"{'run':<12} {'videos':>6} {'speech s':>9} {'wall s':>8} {'videos/hour':>12}")
        for name, done, speech, seconds in results:
            print(
                f"{name:<12} {done:>6} {speech:>9.0f} {seconds:>8.1f} {3600 * done / seconds:>12.0f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
