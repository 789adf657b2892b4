"""PAVAS's ablation table on SynthHits, plus the what-if edits, on the same test videos.

Rows (each one `evaluate_soundtracks` run over the same test videos, the PAVAS rows
conditioned on the physics estimator's output for each video, as `physfoley synthesize` is):
- `--backbone`: the flow-matching backbone (phase 1, no physics);
- `--longer`: the adapter phase with both physics tokens off ("+ longer training only");
- `--mass`, `--vel`: the adapter phase with one token ("+ c_mass", "+ c_vel");
- `--both`: the full model (Delta-modulation, both tokens), also with SynthHits' true physics;
- `--sum`: both tokens added to the condition vector ("direct summation");
- `--diff-foley` and `--per-impact`: the other two families on the same videos.
Headline rows (backbone, both, both with true physics) run every seed of `--seeds`; the others
`--ablation-seeds`. Columns: FD (FID), KL and IS in the material evaluation classifier's
terms at each true hit, Align Acc (evaluation alignment classifier), onset F1 within
+-0.1 s, APCC of the generated soundtracks and APCC-Delta = |APCC(recorded) - APCC(generated)|.

What-if (`--both` model, first seed, estimator physics): every video again with
`--speed-scale 2`, `0.5` and `--mass-scale 2`; the change of each true hit's peak level in dB
against the unedited soundtrack (`evaluation.whatif.peak_levels_db`). SynthHits' amplitude is
proportional to the impulse, so doubling the speed should add 6 dB, halving remove 6 dB.

Run (a quick check: --max-videos 2 --seeds 0 --ablation-seeds 0):
    python benchmarks/pavas_table.py --data data/sh_test --max-videos 24 \
        --backbone runs/soundtrack/pavas_backbone/model --both runs/soundtrack/pavas/model \
        --longer runs/soundtrack/pavas_longer/model --mass runs/soundtrack/pavas_mass/model \
        --vel runs/soundtrack/pavas_vel/model --sum runs/soundtrack/pavas_sum/model \
        --diff-foley diff-foley --align-classifier runs/soundtrack/align_eval/model \
        --classifier runs/eval_classifier_sh --out runs/pavas_table.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from difffoley_table2 import markdown, seeds_of
from pavas_generate import truth_objects

from physfoley.evaluation.classifier import load_eval_classifier
from physfoley.evaluation.soundtrack_eval import (
    RATE,
    AlignScorer,
    eval_videos,
    evaluate_soundtracks,
    generate,
)
from physfoley.evaluation.soundtracks import read_synthhits_hits
from physfoley.evaluation.whatif import peak_levels_db
from physfoley.families import load_pipeline

COLUMNS = (
    ("fid", "FD", 1),
    ("kl", "KL", 1),
    ("is", "IS", 1),
    ("align_acc", "Align Acc %", 100),
    ("onset_f1", "Onset F1", 1),
    ("apcc", "APCC", 1),
    ("apcc_delta", "APCC-Δ", 1),
)
EDITS = (("speed x2", {"speed_scale": 2.0}, 6.02), ("speed x0.5", {"speed_scale": 0.5}, -6.02),
         ("mass x2", {"mass_scale": 2.0}, None))  # fmt: skip


def whatif(pipe, videos, seed: int) -> list[dict]:
    """Per-hit peak-level change (dB) of each edit against the unedited soundtrack."""
    out = []
    base = {}
    for v in videos:
        if v.physics_path is not None:
            times, _, _ = read_synthhits_hits(v.physics_path)
            base[v.name] = (times, peak_levels_db(generate(pipe, v, seed, {}), RATE, times))
    for label, options, expected in EDITS:
        d = np.concatenate([
            peak_levels_db(generate(pipe, v, seed, options), RATE, base[v.name][0])
            - base[v.name][1]
            for v in videos if v.name in base
        ])  # fmt: skip
        lo, hi = np.percentile(d, [25, 75])
        out.append({"edit": label, "expected_db": expected, "mean_db": float(d.mean()),
                    "median_db": float(np.median(d)), "iqr_db": [float(lo), float(hi)],
                    "std_db": float(d.std()), "num_hits": int(d.size)})  # fmt: skip
        print(f"what-if {label}: {out[-1]}", file=sys.stderr)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="SynthHits test videos (with physics records)")
    for name, what in (("backbone", "phase-1 flow-matching backbone"),
                       ("longer", "adapter phase, both tokens off"),
                       ("mass", "adapter phase, c_mass only"), ("vel", "adapter phase, c_vel only"),
                       ("both", "the full model (also the what-if edits)"),
                       ("sum", "direct summation instead of Delta-modulation"),
                       ("diff-foley", "a diff-foley model (dir or shipped name)")):  # fmt: skip
        p.add_argument(f"--{name}", help=f"model dir: {what}")
    p.add_argument("--per-impact", default="small", help="per-impact model; 'none' skips it")
    p.add_argument("--align-classifier", help="evaluation alignment classifier model dir")
    p.add_argument("--classifier", help="material evaluation classifier (FD, KL, IS)")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the headline rows (3)")
    p.add_argument("--ablation-seeds", default="0", help="seeds of the other rows")
    p.add_argument("--max-videos", type=int, help="only the first N test videos")
    p.add_argument("--no-whatif", action="store_true", help="skip the what-if edits")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds, ablation_seeds = seeds_of(args.seeds), seeds_of(args.ablation_seeds)
    align = AlignScorer(args.align_classifier) if args.align_classifier else None
    clf = load_eval_classifier(args.classifier) if args.classifier else None
    videos = list(eval_videos(args.data, max_videos=args.max_videos))
    truth = [copy.copy(v) for v in videos]  # the same videos, SynthHits' striker the object
    for v in truth:
        v.objects = truth_objects(v.physics_path, v.path) if v.physics_path else []
    plan, pipes = [], {}
    for key, label, headline in (
        ("backbone", "backbone (flow matching, no physics)", True),
        ("longer", "+ longer training only", False),
        ("mass", "+ c_mass", False),
        ("vel", "+ c_vel", False),
        ("both", "+ c_mass + c_vel (Delta-modulation): PAVAS", True),
        ("sum", "+ c_mass + c_vel, direct summation", False),
        ("diff_foley", "diff-foley (double guidance)", False),
    ):
        if getattr(args, key):
            pipes[key] = load_pipeline(getattr(args, key))
            plan.append((label, pipes[key], videos, seeds if headline else ablation_seeds))
    if args.both:
        plan.append(("PAVAS with SynthHits' true physics", pipes["both"], truth, seeds))
    if args.per_impact != "none":
        plan.append(("per-impact (detected times)", load_pipeline(args.per_impact), videos,
                     ablation_seeds))  # fmt: skip
    rows = []
    for label, pipe, vids, row_seeds in plan:
        t0 = time.perf_counter()
        doc = evaluate_soundtracks(pipe, vids, seeds=row_seeds, align=align, classifier=clf)
        doc["row"], doc["wall_s"], doc["data"] = (
            label,
            round(time.perf_counter() - t0, 1),
            args.data,
        )
        rows.append(doc)
        print(f"{label}: {json.dumps(doc['mean'])} ({doc['wall_s']} s)", file=sys.stderr)
    table = markdown(rows, COLUMNS, digits=3)
    print(table)
    edits = []
    if args.both and not args.no_whatif:
        edits = whatif(pipes["both"], videos, seeds[0])
        print(
            "\n| edit | expected dB | mean dB | median dB | IQR dB | n hits |\n|---|---|---|---|---|---|"
        )
        for e in edits:
            exp = "-" if e["expected_db"] is None else f"{e['expected_db']:+.1f}"
            print(f"| {e['edit']} | {exp} | {e['mean_db']:+.2f} | {e['median_db']:+.2f} | "
                  f"{e['iqr_db'][0]:+.1f} to {e['iqr_db'][1]:+.1f} | {e['num_hits']} |")  # fmt: skip
    if args.out:
        command = " ".join(["python", "benchmarks/pavas_table.py", *sys.argv[1:]])
        doc = {"command": command, "rows": rows, "markdown": table, "whatif": edits}
        Path(args.out).write_text(json.dumps(doc, indent=2, default=float) + "\n")
    return 0 if all(np.isfinite(r["mean"]["onset_f1"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
