"""SynthHits generation speed: videos/s for N videos of S seconds with W worker processes.

Usage: .venv/bin/python benchmarks/bench_synthhits.py [--videos 100] [--seconds 10] [--workers 2]
(the issue's target: 100 videos of 10 s in under 3 minutes on the 2-core machine).
Writes into a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from physfoley.data.synthhits import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = generate_dataset(
            tmp, videos=args.videos, seconds=args.seconds, seed=args.seed, workers=args.workers
        )
        wall = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        hits = 0
        for p in Path(tmp).glob("*_times.txt"):
            hits += len(p.read_text().splitlines())
    rate = summary["made"] / wall
    print(
        f"SynthHits: {summary['made']} videos x {args.seconds:g} s with {args.workers} workers "
        f"in {wall:.1f} s -> {rate:.2f} videos/s, {rate * args.seconds:.1f} s of video per s; "
        f"{hits} annotated hits, {size_mb:.1f} MB"
    )
    print(f"projected for 100 videos of 10 s: {100 * 10 / (rate * args.seconds):.0f} s")


if __name__ == "__main__":
    main()
