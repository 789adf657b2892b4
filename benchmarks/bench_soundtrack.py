"""Speed of the soundtrack (Diff-Foley) pipeline: an 8 s and a 60 s soundtrack, 25 steps with
double guidance, VAE decode and vocoder included, per step of the pipeline. Prints; asserts
nothing. Without --model the `small` networks are built with random weights (the time does not
depend on the weights). Wall time and this process's CPU time are both printed: on a shared
machine the wall time includes waiting for the cores.

Run: .venv/bin/python benchmarks/bench_soundtrack.py [--model DIR] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from physfoley.models.soundtrack_factory import build_network, network_config
from physfoley.soundtrack_config import get_soundtrack_preset
from physfoley.soundtrack_dir import write_model_dir
from physfoley.soundtrack_pipeline import SoundtrackPipeline


def random_model(path: Path) -> Path:
    """A small diff-foley model directory with random weights."""
    sound = get_soundtrack_preset("small")
    parts = {}
    for part in ("vae", "cavp", "ldm", "align"):
        cfg = network_config(part, "small")
        extra = {"scale_factor": 1.0} if part == "vae" else {}
        parts[part] = (
            build_network(part, cfg, sound).state_dict(),
            dataclasses.asdict(cfg) | extra,
        )
    sampling = {"sampler": "dpmsolver++", "steps": 25, "cfg_scale": 4.5, "cg_scale": 50.0}
    return write_model_dir(path, soundtrack=sound, parts=parts, extra={"sampling": sampling})


def run(pipe: SoundtrackPipeline, seconds: float, repeats: int, **kwargs) -> None:
    fps = 30000 / 1001
    n = int(seconds * fps)
    frames = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    times = np.arange(n) / fps
    for i in range(repeats):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = pipe.synthesize_frames(frames, times, seconds, **kwargs)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        steps = " ".join(f"{k} {v:.2f}" for k, v in result.timings_s.items() if k != "total")
        print(
            f"{seconds:5.1f} s video, {result.settings['windows']} windows, run {i}: "
            f"wall {wall:.2f} s, CPU {cpu:.2f} s ({steps})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="diff-foley model directory (default: random small)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-s", type=float, default=60.0, help="length of the long video")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else random_model(Path(tmp) / "model")
        pipe = SoundtrackPipeline.from_pretrained(model)
        print(f"torch threads {args.threads}; sampling {pipe.sampling}")
        run(pipe, 8.0, args.repeats)
        run(pipe, 8.0, 1, griffin_lim_iters=16)
        run(pipe, 8.0, 1, cfg_scale=0.0, cg_scale=0.0)
        run(pipe, args.long_s, 1)


if __name__ == "__main__":
    main()
