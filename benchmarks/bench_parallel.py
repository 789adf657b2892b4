"""Three `synthesize` runs at once against three in a row: does batching videos cost extra?

Run: .venv/bin/python benchmarks/bench_parallel.py [--runs 3] [--seconds 8] [--load 0]

Makes one SynthHits video in a temp folder, then times, for the thread settings physfoley
chooses (`physfoley.threads`) and for torch's defaults (every core, busy-waiting OpenMP
threads: OMP_WAIT_POLICY=ACTIVE, OMP_NUM_THREADS=cores): one run alone, `--runs` runs in a row,
and `--runs` runs started together. `--load N` adds N busy processes (a machine that is not
quiet) for the whole measurement. Prints one line per setting and the parallel / in-a-row ratio
(target <= 1.2); also the machine's load average at the start, since shared machines vary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _synth_cmd(video: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "physfoley", "synthesize", str(video), "-o", str(out),
            "--seed", "0", "--force"]  # fmt: skip


def _timed(cmds: list[list[str]], env: dict, parallel: bool) -> float:
    start = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(c, env=env, stderr=subprocess.DEVNULL) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, env=env, stderr=subprocess.DEVNULL).returncode for c in cmds]
    if any(codes):
        raise SystemExit(f"a synthesize run failed (exit codes {codes})")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the test video")
    ap.add_argument("--load", type=int, default=0, help="busy processes running meanwhile")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "physfoley", "data", "synth", "--out", str(tmp / "sh"),
             "--videos", "1", "--seconds", str(args.seconds), "--seed", "3"],
            check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        video = next((tmp / "sh").glob("*_denoised.mp4"))
        cmds = [_synth_cmd(video, tmp / f"out{i}.wav") for i in range(args.runs)]
        base = {k: v for k, v in os.environ.items() if not k.endswith(("_THREADS", "BLOCKTIME"))}
        base.pop("OMP_WAIT_POLICY", None)
        settings = {
            "physfoley threads": base,
            "torch defaults": {**base, "OMP_WAIT_POLICY": "ACTIVE",
                               "OMP_NUM_THREADS": str(cores), "MKL_NUM_THREADS": str(cores)},
        }  # fmt: skip
        burners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)
        ]
        try:
            print(f"{cores} CPUs, load average {os.getloadavg()[0]:.1f}, {args.load} busy "
                  f"processes added, {args.runs} runs of synthesize on a {args.seconds:g} s video")  # fmt: skip
            for name, env in settings.items():
                _timed(cmds[:1], env, parallel=False)  # warm the file cache
                one = _timed(cmds[:1], env, parallel=False)
                row = _timed(cmds, env, parallel=False)
                par = _timed(cmds, env, parallel=True)
                print(f"{name:18s} one {one:6.1f} s   {args.runs} in a row {row:6.1f} s   "
                      f"{args.runs} at once {par:6.1f} s   at once / in a row {par / row:.2f}")  # fmt: skip
        finally:
            for b in burners:
                b.kill()
                b.wait()


if __name__ == "__main__":
    main()
