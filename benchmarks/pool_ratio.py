"""Pool several `model_diagnosis.py --json-out` files into one recognition ratio with its interval.

    .venv/bin/python benchmarks/pool_ratio.py A.json B.json ... [--name "retrieved g=2"]

Each file holds per-clip correctness (generated, per seed; real) and each clip's video. Clips of
all files are pooled (their videos stay distinct clusters; files scored by the same classifier),
per-clip correctness is averaged over the seeds each file has, and the ratio's 95 % interval is
a cluster bootstrap over videos (`physfoley.evaluation.metrics.recognition_ratio_ci`).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--name", default="retrieved g=2", help="run name in the files")
    a = p.parse_args()
    from physfoley.evaluation.metrics import recognition_ratio_ci

    gen, real, videos = [], [], []
    for i, f in enumerate(a.files):
        clip = json.load(open(f))["per_clip"]
        g = np.asarray(clip["generated_correct"][a.name], dtype=np.float64).mean(axis=0)
        r = np.asarray(clip["real_correct"], dtype=np.float64)
        v = [f"{i}:{x}" for x in clip["videos"]]
        print(f"{f}: {len(r)} clips, {len(set(v))} videos, ratio {g.sum() / r.sum():.3f}")
        gen.append(g), real.append(r), videos.extend(v)
    gen, real = np.concatenate(gen), np.concatenate(real)
    lo, hi = recognition_ratio_ci(gen, real, np.asarray(videos))
    print(
        f"pooled: {gen.size} clips, {len(set(videos))} videos: generated {100 * gen.mean():.1f} % vs "
        f"real {100 * real.mean():.1f} %, ratio {gen.sum() / real.sum():.3f} "
        f"(95 % interval over videos {lo:.3f}-{hi:.3f})"
    )


if __name__ == "__main__":
    main()
