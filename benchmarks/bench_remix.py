"""Per-impact re-synthesis in the web app: how long one slider move takes, end to end.

Synthesises a video once (as the app's Synthesize button does), then times what each kind of
slider move costs, files included (the soundtrack wav and the video muxed with it): a frequency
or decay change (the impact's spectrogram edited and vocoded again), a level change (gain,
speed, mass), and a material change (that impact alone retrieved and diffused again).
Prints; asserts nothing.

Run: .venv/bin/python benchmarks/bench_remix.py [VIDEO] [--threads N] [--repeats R]
(VIDEO defaults to Greatest Hits clip 10 of ../shared/data/greatest-hits-demo/.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from physfoley.web.backend import ImpactEdit, ModelShelf, bank_materials
from physfoley.web.session import VideoJob

DEFAULT_VIDEO = (
    Path(__file__).resolve().parents[2]
    / "shared/data/greatest-hits-demo/physics_driven_diffusion_model_sample_10.mp4"
)


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median, max) seconds of `repeats` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="at most 9 (one per material)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = ModelShelf.from_option(None).load("")
    with tempfile.TemporaryDirectory() as folder:
        job = VideoJob(Path(folder), Path(args.video), pipe, seed=0)
        start = time.perf_counter()
        job.run()
        whole = time.perf_counter() - start
        n = len(job.result.impacts)
        print(f"{Path(args.video).name}: {n} impacts, {job.result.duration_s:.2f} s of video")
        print(f"  whole soundtrack (decode, detect, {n} impacts, write): {whole:6.2f} s")
        if not n:
            return
        cases = {
            "frequency / decay (spectrogram edit + vocoder)": lambda: job.edit(
                0, ImpactEdit(freq_scale=1.25, decay_scale=0.8)
            ),
            "gain / speed / mass (level only)": lambda: job.edit(
                0, ImpactEdit(gain_db=-3.0, speed_scale=1.5, mass_scale=2.0)
            ),
        }
        # a material not tried before each time (the job keeps each material's sound)
        first = job.generated[0].neighbour_material
        it = iter([m for m in bank_materials(pipe) if m != first])
        cases["material (retrieval + diffusion of one impact)"] = lambda: job.edit(
            0, ImpactEdit(material=next(it))
        )
        for name, fn in cases.items():
            median, worst = timed(fn, args.repeats)
            print(f"  one impact, {name}: median {median:5.2f} s, max {worst:5.2f} s")
    print(f"  threads {args.threads}, repeats {args.repeats}, files written each time")


if __name__ == "__main__":
    main()
