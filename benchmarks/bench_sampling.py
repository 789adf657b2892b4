"""Diffusion sampling speed of a model directory: per-impact latency and batched throughput.

Usage: .venv/bin/python benchmarks/bench_sampling.py [MODEL_DIR] [--threads N]
(default MODEL_DIR: the shipped small model). Prints one line per (sampler, steps, batch):
seconds per batch, milliseconds per impact. Conditions are random (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from physfoley.diffusion.samplers import sample
from physfoley.model_dir import load_model_dir

DEFAULT = Path(__file__).resolve().parents[1] / "src" / "physfoley" / "assets" / "models" / "small"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", nargs="?", default=str(DEFAULT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, cfg = load_model_dir(args.model_dir)
    nu_dim = model.visual.latent_dim
    print(f"model {args.model_dir} ({cfg.name}, {cfg.denoiser.kind}), torch threads {args.threads}")
    runs = [
        ("ancestral", 100, 1),
        ("ancestral", 100, 10),
        ("ancestral", 100, 32),
        ("dpmsolver++", 25, 10),
        ("ddim", 50, 10),
        ("ancestral", 1000, 10),
    ]
    for sampler, steps, batch in runs:
        cond = {
            "mu": torch.rand(batch, cfg.physics.latent_dim) * 2 - 1,
            "nu": torch.rand(batch, nu_dim),
        }
        times = []
        for r in range(args.repeats if steps < 1000 else 1):
            t0 = time.perf_counter()
            sample(
                model,
                cond,
                sampler=sampler,
                steps=steps,
                generator=torch.Generator().manual_seed(r),
            )
            times.append(time.perf_counter() - t0)
        best = min(times)
        print(
            f"{sampler:12s} steps {steps:4d} batch {batch:3d}: {best:7.3f} s/batch, {1000 * best / batch:8.1f} ms/impact (best of {len(times)})"
        )


if __name__ == "__main__":
    main()
