"""Long fuzz run of the file decoders: thousands of mutated JPEG/PNG/GIF/WAV/FLAC/MP3 files.

    python benchmarks/fuzz_decoders.py                  # 2400 inputs, seed 0
    python benchmarks/fuzz_decoders.py --inputs 10000 --seed 3 --keep out/fuzz-crashes

Every mutated file goes through the portrait loader and the voice-over loader
(tests/fuzz_corpus.try_decoders); each must decode or raise an ``AvatarError``.
Anything else is a bug: it is counted, printed, and the file is kept for a
regression test. The short CI version of this is tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import logging
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz_corpus import MUTATIONS, mutate, seed_files, try_decoders  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=2400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", default=None, help="folder for the files that crashed a decoder")
    a = p.parse_args()
    logging.basicConfig(level=logging.ERROR)  # ffmpeg's complaints about damage are expected

    rng = np.random.default_rng(a.seed)
    work = Path(tempfile.mkdtemp(prefix="fuzz-decoders-"))
    seeds = seed_files(work / "seeds")
    names = sorted(seeds)
    outcomes: collections.Counter[tuple[str, str, str]] = collections.Counter()
    crashes: list[tuple[Path, str]] = []
    t0 = time.perf_counter()
    try:
        for i in range(a.inputs):
            name = names[i % len(names)]
            kind = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
            other = seeds[names[int(rng.integers(0, len(names)))]]
            path = work / f"{i:05d}-{kind}-{name}"
            path.write_bytes(mutate(seeds[name], kind, rng, other))
            try:
                result = try_decoders(path)
            except Exception:  # noqa: BLE001 - a non-AvatarError escaping is what we hunt
                crashes.append((path, traceback.format_exc(limit=3)))
                continue
            outcomes[(name, "image", result["image"])] += 1
            outcomes[(name, "audio", result["audio"])] += 1
            path.unlink()
    finally:
        seconds = time.perf_counter() - t0
        print(f"{a.inputs} mutated inputs ({len(MUTATIONS)} mutations of {len(names)} seeds) "
              f"through 2 decoders in {seconds:.0f} s; crashes: {len(crashes)}")  # fmt: skip
        table = collections.defaultdict(collections.Counter)
        for (name, decoder, result), count in outcomes.items():
            table[(name, decoder)][result] += count
        for (name, decoder), counts in sorted(table.items()):
            print(
                f"  {name:<10} {decoder:<6} "
                + ", ".join(f"{k} {v}" for k, v in counts.most_common())
            )
        for path, tb in crashes[:10]:
            print(f"\nCRASH {path.name}:\n{tb}")
        if a.keep and crashes:
            keep = Path(a.keep)
            keep.mkdir(parents=True, exist_ok=True)
            for path, _ in crashes:
                shutil.copy2(path, keep / path.name)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
