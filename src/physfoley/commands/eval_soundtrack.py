"""`physfoley eval soundtrack --model NAME|DIR --data DIR`: whole soundtracks against the truth.

Align Acc (evaluation alignment classifier), onset accuracy / AP / precision / F1, and IS, KL,
FID in the material evaluation classifier's terms, per seed and over seeds
(`physfoley.evaluation.soundtrack_eval`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from physfoley import jsondoc
from physfoley.commands.eval_common import command_line, emit, option_names
from physfoley.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "soundtrack",
        help="Align Acc, onset F1/AP, IS/KL/FID of whole generated soundtracks (either family)",
        description=(
            "Generate the soundtrack of every test video of --data (a folder of videos in the "
            "Greatest Hits layout, e.g. SynthHits, or the test split of a `data segments` "
            "folder) with --model for each seed, and score it: Align Acc with --align-classifier "
            "(an evaluation classifier trained on clean real pairs: `physfoley train align "
            "--config configs/soundtrack_align_eval_small.yaml`), onsets against the true hit "
            "times within --tolerance-s, and with --classifier (`physfoley eval "
            "train-classifier`) IS, KL and FID of the clip at each true hit."
        ),
    )
    p.add_argument("--model", default="diff-foley", help="model dir or shipped name (diff-foley)")
    p.add_argument("--data", required=True, help="test videos: Greatest Hits folder or segments")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--max-videos", type=int, help="only the first N test videos")
    p.add_argument("--align-classifier", help="evaluation alignment classifier model dir")
    p.add_argument("--classifier", help="material evaluation classifier folder (IS, KL, FID)")
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    p.add_argument("--sampler", help="sampler (default: the model's)")
    p.add_argument("--guidance", type=float, help="CFG scale S (diff-foley: omega = S - 1)")
    p.add_argument("--cg-scale", type=float, help="diff-foley: alignment-classifier scale")
    p.add_argument("--tolerance-s", type=float, default=0.1, help="onset match window (0.1 s)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="also write the JSON report to this file")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=run, option_names=option_names(p))


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--seeds must be comma-separated integers; got {text!r}") from None
    if not seeds:
        raise InputError("--seeds needs at least one seed")
    if any(not 0 <= s < 2**32 for s in seeds):
        raise InputError(f"--seeds must be whole numbers 0 .. {2**32 - 1}; got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    import torch

    from physfoley.atomic import check_output_path, write_text_atomic
    from physfoley.evaluation.classifier import load_eval_classifier
    from physfoley.evaluation.soundtrack_eval import AlignScorer, evaluate_soundtracks
    from physfoley.families import load_pipeline, sampling_options

    seeds = parse_seeds(args.seeds)
    if args.max_videos is not None and args.max_videos < 1:
        raise InputError("--max-videos must be at least 1")
    if not Path(args.data).is_dir():
        raise InputError(f"--data {args.data} is not a folder")
    if args.out:
        check_output_path(args.out, force=args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model)
    options = sampling_options(pipe, steps=args.steps, sampler=args.sampler,
                               guidance=args.guidance, cg_scale=args.cg_scale)  # fmt: skip
    align = AlignScorer(args.align_classifier) if args.align_classifier else None
    clf = load_eval_classifier(args.classifier) if args.classifier else None
    doc = evaluate_soundtracks(pipe, args.data, seeds=seeds, options=options, align=align,
                               classifier=clf, max_videos=args.max_videos,
                               tolerance_s=args.tolerance_s)  # fmt: skip
    doc = {"model": str(args.model), **doc, "command": command_line(args)}
    if args.out:
        write_text_atomic(args.out, jsondoc.dumps(doc, indent=2) + "\n", force=args.force)
    m = doc["mean"]
    extra = f", Align Acc {100 * m['align_acc']:.1f} %" if "align_acc" in m else ""
    extra += f", IS {m['is']:.2f}, KL {m['kl']:.3f}, FID {m['fid']:.2f}" if "is" in m else ""
    extra += f", APCC {m['apcc']:.3f} (delta {m['apcc_delta']:.3f})" if "apcc" in m else ""
    emit(
        args,
        doc,
        f"{doc['n_videos']} videos x {len(seeds)} seeds: onset F1 {m['onset_f1']:.3f}, "
        f"acc {m['onset_acc']:.3f}, AP {m['onset_ap']:.3f}{extra}",
    )
    return 0
