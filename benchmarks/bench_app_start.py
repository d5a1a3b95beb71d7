"""How long `python app.py` takes until the page is served and the models are warm.

    python benchmarks/bench_app_start.py            # 3 cold starts
    python benchmarks/bench_app_start.py --runs 5

Each run starts a fresh process on a free port and stops it once the app has printed its
ready line and answers the page. Printed: wall seconds to ready as seen from outside, the
app's own ready time and its model warm-up time (from that line), and the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from app_process import running_app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    print("| run | ready (outside) s | app's ready line s | models warm s | load avg |")
    print("|---|---|---|---|---|")
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-app-start-") as tmp:
        for i in range(a.runs):
            with running_app(Path(tmp) / f"app{i}.log") as app:
                walls.append(app.ready_s)
                print(
                    f"| {i + 1} | {app.ready_s:.1f} | {app.app_ready_s:.1f} "
                    f"| {app.warm_up_s:.1f} | {os.getloadavg()[0]:.1f} |"
                )
    print(f"median {sorted(walls)[len(walls) // 2]:.1f} s over {a.runs} cold starts")


if __name__ == "__main__":
    main()
