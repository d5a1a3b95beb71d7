"""Per-stage wall time and peak RSS of the whole pipeline (same as `avatar bench`).

python benchmarks/bench_pipeline.py                 # 10 s and 60 s, 512² and native size
python benchmarks/bench_pipeline.py --seconds 600 --sizes 512   # the 10-minute memory check
"""

from __future__ import annotations

import argparse

from avatar.bench import run_benchmark

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--image")
    p.add_argument("--audio")
    p.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    p.add_argument("--sizes", nargs="+", default=["512", "native"])
    p.add_argument("--preset", default="balanced")
    a = p.parse_args()
    run_benchmark(a.image, a.audio, a.seconds, a.sizes, preset=a.preset)
