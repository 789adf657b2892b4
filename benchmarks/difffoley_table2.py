"""Diff-Foley's Table 2 on SynthHits: guidance and split & merge ablations, plus the per-impact
pipeline on the same test videos, scored by `physfoley.evaluation.soundtrack_eval`.

Rows (each one `evaluate_soundtracks` run over the same test videos):
- the diff-foley model with no guidance (omega = 0, gamma = 0: conditional sampling), CFG only
  (the model's omega, gamma = 0) and double guidance (the model's omega and gamma, eq. 8);
- the same three for `--no-split-merge-model DIR` (an ldm trained with `split_merge: false`),
  when given: the split & merge ablation;
- the per-impact pipeline (`--per-impact-model`, default the shipped `small`) with its detected
  impact times: the side-by-side row.
The headline rows (CFG, double guidance, per-impact) run with every seed of `--seeds` (give 3);
the others with `--ablation-seeds`. Columns: Align Acc (the evaluation alignment classifier of
`--align-classifier`), onset accuracy, AP and F1 within +-0.1 s of the true hit times, and with
`--classifier` IS / KL / FID of the clip at each hit; mean +- std over seeds, n videos.

Not a row: Diff-Foley's CAVP features against the per-impact model's visual encoder. That
encoder (ResNet + TSM) gives one feature per 22-frame window around a detected impact, not a
feature per latent frame, so swapping it in needs a per-frame variant of it and another
LDM training run; this script has no such model to load.

Run (a quick check: --max-videos 2 --seeds 0 --steps 5):
    python benchmarks/difffoley_table2.py --model runs/soundtrack/ldm/model \
        --data data/synthhits_test --align-classifier runs/soundtrack/align_eval/model \
        --classifier runs/eval_classifier_regen --seeds 0,1,2 --out table2.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from physfoley.evaluation.classifier import load_eval_classifier
from physfoley.evaluation.soundtrack_eval import AlignScorer, evaluate_soundtracks
from physfoley.families import load_pipeline, sampling_options

COLUMNS = (
    ("align_acc", "Align Acc %", 100),
    ("onset_acc", "Onset Acc %", 100),
    ("onset_ap", "Onset AP %", 100),
    ("onset_f1", "Onset F1", 1),
    ("is", "IS", 1),
    ("kl", "KL", 1),
    ("fid", "FID", 1),
)


def seeds_of(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def guidance_rows(pipe, name: str, seeds: list[int], ablation_seeds: list[int], steps):
    """(label, pipe, options, seeds) of the three guidance settings of one diff-foley model."""
    omega = float(pipe.sampling["cfg_scale"])
    gamma = float(pipe.sampling["cg_scale"]) if pipe.has_classifier else 0.0
    rows = [
        (f"{name}: no guidance", 1.0, 0.0, ablation_seeds),
        (f"{name}: CFG (omega {omega:g})", 1.0 + omega, 0.0, seeds),
    ]
    if pipe.has_classifier:
        rows.append((f"{name}: double guidance (omega {omega:g}, gamma {gamma:g})",
                     1.0 + omega, gamma, seeds))  # fmt: skip
    return [
        (label, pipe, sampling_options(pipe, steps=steps, guidance=g, cg_scale=cg), row_seeds)
        for label, g, cg, row_seeds in rows
    ]


def cell(row: dict, key: str, scale: float, digits: int = 2) -> str:
    if key not in row["mean"] or not np.isfinite(row["mean"][key]):
        return "-"
    mean, std = scale * row["mean"][key], scale * row["std"][key]
    return (
        f"{mean:.{digits}f} ± {std:.{digits}f}" if len(row["seeds"]) > 1 else f"{mean:.{digits}f}"
    )


def markdown(rows: list[dict], columns=COLUMNS, digits: int = 2) -> str:
    """The rows as a markdown table (mean ± std over seeds), then the recorded soundtracks."""
    head = "| row | seeds | n videos | " + " | ".join(c[1] for c in columns) + " |"
    lines = [head, "|" + "---|" * (3 + len(columns))]
    for r in rows:
        cells = [cell(r, key, scale, digits) for key, _, scale in columns]
        seeds = ",".join(str(s) for s in r["seeds"])
        lines.append(f"| {r['row']} | {seeds} | {r['n_videos']} | " + " | ".join(cells) + " |")
    if rows:
        ref = rows[0]["reference"]
        real = [f"{k.removeprefix('real_')} {v:.3f}" for k, v in ref.items()]
        lines.append(f"\nReal soundtracks (the metrics' ceiling): {', '.join(real)}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="diff-foley model dir (or shipped name)")
    p.add_argument("--data", required=True, help="test videos (SynthHits folder or segments)")
    p.add_argument("--align-classifier", help="evaluation alignment classifier model dir")
    p.add_argument("--classifier", help="material evaluation classifier (IS, KL, FID)")
    p.add_argument("--no-split-merge-model", help="ldm trained with split_merge: false")
    p.add_argument("--per-impact-model", default="small", help="'none' leaves the row out")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the headline rows (3)")
    p.add_argument("--ablation-seeds", default="0", help="seeds of the other rows")
    p.add_argument("--max-videos", type=int, help="only the first N test videos")
    p.add_argument("--steps", type=int, help="sampling steps of the diff-foley rows")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds, ablation_seeds = seeds_of(args.seeds), seeds_of(args.ablation_seeds)
    align = AlignScorer(args.align_classifier) if args.align_classifier else None
    clf = load_eval_classifier(args.classifier) if args.classifier else None
    plan = guidance_rows(load_pipeline(args.model), "diff-foley", seeds, ablation_seeds, args.steps)
    if args.no_split_merge_model:
        ablation = load_pipeline(args.no_split_merge_model)
        plan += guidance_rows(ablation, "no split & merge", ablation_seeds, ablation_seeds,
                              args.steps)  # fmt: skip
    if args.per_impact_model != "none":
        per_impact = load_pipeline(args.per_impact_model)
        plan.append(("per-impact (detected times)", per_impact, {}, seeds))
    rows = []
    for label, pipe, options, row_seeds in plan:
        t0 = time.perf_counter()
        doc = evaluate_soundtracks(pipe, args.data, seeds=row_seeds, options=options, align=align,
                                   classifier=clf, max_videos=args.max_videos)  # fmt: skip
        doc["row"], doc["wall_s"] = label, round(time.perf_counter() - t0, 1)
        rows.append(doc)
        print(f"{label}: {json.dumps(doc['mean'])} ({doc['wall_s']} s)", file=sys.stderr)
    table = markdown(rows)
    print(table)
    if args.out:
        command = " ".join(["python", "benchmarks/difffoley_table2.py", *sys.argv[1:]])
        doc = {"command": command, "rows": rows, "markdown": table,
               "not_run": "CAVP vs the per-impact visual encoder (see the script's docstring)"}  # fmt: skip
        Path(args.out).write_text(json.dumps(doc, indent=2, default=float) + "\n")
    return 0 if all(np.isfinite(r["mean"]["onset_f1"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
