"""Peak memory of `detect` and `synthesize` against video length: it must stay flat.

Run: .venv/bin/python benchmarks/bench_memory.py [--minutes 1 2 10] [--size 1920x1080] [--fps 30]

Writes a generated H.264 video of each length (a bar swinging onto a textured table, PyAV,
in a temp folder), then runs `physfoley detect --json` and `physfoley synthesize --times`
(one impact a second is not the point here: `--times` keeps the model's share fixed) on it as
child processes and prints each one's peak resident memory (ru_maxrss) and wall time.
Target: <= 2 GB for each, whatever the length.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_video(path: Path, minutes: float, width: int, height: int, fps: int) -> int:
    """A `minutes`-long H.264 video at width x height, fps: a bar that swings down onto a
    textured table once a second. Returns its number of frames."""
    import av

    rng = np.random.default_rng(0)
    table = rng.integers(60, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    table = table.repeat(8, axis=0).repeat(8, axis=1)
    n = int(round(minutes * 60 * fps))
    bar_w, bar_h = width // 20, height // 4
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(2 * fps)}
        for i in range(n):
            phase = (i % fps) / fps  # falls for 0.6 s, rests, lifts
            y = int((height - bar_h) * min(phase / 0.6, 1.0) ** 2)
            img = table.copy()
            x = width // 2 - bar_w // 2
            img[y : y + bar_h, x : x + bar_w] = 240
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return n


def peak_rss(cmd: list[str]) -> tuple[float, float, int]:
    """(peak resident memory in GB, wall seconds, exit status) of `cmd` run as a child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
    if proc.returncode:
        print(f"  failed: {err[-1] if err else proc.returncode}", file=sys.stderr)
    return usage.ru_maxrss / 1024**2, time.perf_counter() - start, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0, 10.0])
    ap.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    py = [sys.executable, "-m", "physfoley"]
    print(
        f"{'minutes':>7} {'frames':>7}  {'detect GB':>9} {'s':>6}  {'synthesize GB':>13} {'s':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            video = Path(tmp) / f"v{minutes:g}.mp4"
            n = write_video(video, minutes, width, height, args.fps)
            det = peak_rss([*py, "detect", str(video), "--json"])
            syn = peak_rss([*py, "synthesize", str(video), "-o", str(Path(tmp) / "o.wav"),
                            "--times", "1,2,3", "--seed", "0", "--force"])  # fmt: skip
            print(f"{minutes:7g} {n:7d}  {det[0]:9.2f} {det[1]:6.0f}  {syn[0]:13.2f} {syn[1]:6.0f}"
                  + ("  (a run failed)" if det[2] or syn[2] else ""))  # fmt: skip
            video.unlink()


if __name__ == "__main__":
    main()
