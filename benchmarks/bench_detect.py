"""Impact detection throughput on 224x224 video (decode + flow + detection), frames per second.

    .venv/bin/python benchmarks/bench_detect.py [--seconds 20] [--method flow|tip|both]

Makes a 224x224 29.97 fps H.264 test video (moving textured bar, camera shake) in a temporary
folder, then times `read_video` + `detect_impacts` end to end and the detector alone.
Target: >= 200 frames/s on the project machine. Prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from physfoley.video.events import detect_impacts  # noqa: E402
from physfoley.video.io import read_video  # noqa: E402


def make_video(path: Path, seconds: float, size: int = 224, seed: int = 0) -> int:
    import av
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    n = int(seconds * 30000 / 1001)
    pad = 10
    noise = gaussian_filter(rng.normal(0, 1, (size + 2 * pad, size + 2 * pad)), 2.0)
    bg = np.clip(100 + 35 * noise / noise.std(), 0, 255).astype(np.uint8)
    # a randomly textured bar: a periodic texture (stripes every 8 px, as this benchmark used to
    # draw) moving 22 px per frame aliases, and optical flow then sees almost no motion at all
    bar = np.clip(200 + 35 * rng.normal(0, 1, (50, 16)), 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=Fraction(30000, 1001))
        st.width = st.height = size
        st.pix_fmt = "yuv420p"
        for t in range(n):
            phase = (t % 30) / 30.0
            tip = (
                60 + 100 * min(phase / 0.3, 1.0) ** 2
                if phase < 0.4
                else 160 - 100 * (phase - 0.4) / 0.6
            )
            canvas = bg.copy()
            y1 = int(tip) + pad
            canvas[y1 - 50 : y1, pad + 100 : pad + 116] = bar
            oy, ox = rng.integers(-2, 3, 2)
            img = canvas[pad + oy : pad + oy + size, pad + ox : pad + ox + size]
            frame = av.VideoFrame.from_ndarray(np.repeat(img[..., None], 3, -1), format="rgb24")
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", choices=("flow", "tip", "both"), default="both")
    args = ap.parse_args()
    methods = ("flow", "tip") if args.method == "both" else (args.method,)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        n = make_video(path, args.seconds)
        # the bar stops on the floor once per 30-frame cycle, at frame 9 of the cycle
        stops = np.arange(9, n - 1, 30)
        print(f"frames: {n} (224x224, 29.97 fps), true stops: {len(stops)}")
        for method in methods:
            video = read_video(path)
            detect_impacts(video, method=method)  # warm-up
            best_total = best_det = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                video = read_video(path)
                t1 = time.perf_counter()
                events = detect_impacts(video, method=method)
                t2 = time.perf_counter()
                best_total = min(best_total, t2 - t0)
                best_det = min(best_det, t2 - t1)
            frames = np.array([e.frame for e in events])
            hit = sum(bool(len(frames) and np.abs(frames - s).min() <= 1) for s in stops)
            print(
                f"[{method}] impacts found: {len(events)} ({hit} of {len(stops)} stops within "
                f"+-1 frame); decode + detect: {n / best_total:.0f} frames/s; detect only: "
                f"{n / best_det:.0f} frames/s"
            )
    print(f"cpu count: {os.cpu_count()}, target >= 200 frames/s (decode + detect)")


if __name__ == "__main__":
    main()
