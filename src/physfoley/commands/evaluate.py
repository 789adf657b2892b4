"""`physfoley eval`: score a model on a prepared test split (Su et al. Tables 1 and 3).

physfoley eval --model DIR --data DIR [--out DIR] [--samples-per-clip K] ...
physfoley eval --generated FILE.npz --data DIR ...      (score clips made elsewhere)
physfoley eval train-classifier --data DIR [--out DIR]  (the evaluation classifier)
physfoley eval onsets|apcc|level-change|baseline ...    (soundtrack metrics, Table 3 baselines)

This file parses and prints; generation and scoring are `physfoley.evaluation.runner`, the
report `physfoley.evaluation.report`. The subcommands have their own command files. The
library modules that import torch (datasets, classifier, runner, pipeline) are imported inside
`run_eval`, so that `physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from physfoley.atomic import check_output_dir
from physfoley.commands import args as argtypes
from physfoley.commands import eval_baseline, eval_classifier, eval_soundtrack, eval_soundtracks
from physfoley.commands.eval_common import (
    DEFAULT_CLASSIFIER_SUBDIR,
    classifier_dir,
    command_line,
    emit,
    option_names,
)
from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.evaluation.report import REPORT_JSON, write_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate generated impact sounds (FID, KID, KL, recognition accuracy, spec MSE)",
        description=(
            "Generate a sound for every clip of a prepared split with a trained model (or read "
            "clips generated elsewhere with --generated) and score them against the recorded "
            "clips with the evaluation classifier: FID, KID (mean, std), KL divergence, "
            "recognition accuracy, spectrogram MSE. Writes report.json and report.md (tables in "
            "the layout of Su et al.) into --out. `physfoley eval train-classifier` trains the "
            "classifier first."
        ),
    )
    p.add_argument("--model", help="trained model directory (generates the clips)")
    p.add_argument(
        "--generated",
        help="score pre-generated clips instead: .npz with `rows` [N] (rows of --data) and "
        "`specs` [N,F,T] or [K,N,F,T] normalised log-spectrograms, or `waves` [N,S] / [K,N,S]",
    )
    p.add_argument("--data", help="prepared dataset folder (`physfoley data prepare`)")
    p.add_argument("--out", help="report folder (default: MODEL/eval-SPLIT or FILE-eval)")
    p.add_argument(
        "--classifier",
        help=f"evaluation classifier folder (default: DATA/{DEFAULT_CLASSIFIER_SUBDIR})",
    )
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument(
        "--samples-per-clip",
        type=int,
        default=1,
        help="K generated samples per clip, seeds S..S+K-1; metrics are given as mean ± std "
        "over the K runs (default: 1)",
    )
    p.add_argument("--steps", type=int, help="diffusion sampling steps (default: the sampler's)")
    p.add_argument(
        "--sampler",
        help="sampler: ancestral, ddim, dpmsolver++ (or dpm++), flow_euler (default: the model's)",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0, help="first seed (default: 0)")
    p.add_argument("--max-clips", type=int, help="evaluate an evenly spaced subset of N clips")
    p.add_argument("--name", help="row label in the tables (default: the model folder's name)")
    p.add_argument("--batch-size", type=int, default=64, help="generation batch (default: 64)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default: 100)")
    p.add_argument(
        "--kid-subset-size",
        type=int,
        default=1000,
        help="KID subset size, capped at n/2 (default 1000)",
    )
    p.add_argument(
        "--device", default="cpu", type=argtypes.device, help="torch device (default: cpu)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument(
        "--save-generated",
        action="store_true",
        help="also write OUT/generated.npz (rows + float16 spectrograms [K,N,F,T]) so the same "
        "samples can be re-scored with `--generated` (another classifier, another split)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.set_defaults(func=run_eval, eval_parser=p, option_names=option_names(p))

    sub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    for module in (eval_classifier, eval_soundtracks, eval_soundtrack, eval_baseline):
        module.register(sub)


def _check_args(args: argparse.Namespace) -> None:
    if bool(args.model) == bool(args.generated):
        raise InputError(
            "give exactly one of --model DIR or --generated FILE.npz "
            "(or a subcommand: train-classifier, onsets, apcc, baseline)"
        )
    if not args.data:
        raise InputError("--data DIR (a prepared dataset) is required")
    if args.samples_per_clip < 1:
        raise InputError("--samples-per-clip must be at least 1")
    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be at least 1")
    if args.generated and (args.max_clips or args.steps or args.sampler):
        raise InputError("--max-clips, --steps and --sampler apply to --model, not --generated")
    if args.max_clips is not None and args.max_clips < 2:
        raise InputError("--max-clips must be at least 2 (FID needs two clips)")


def run_eval(args: argparse.Namespace) -> int:
    if not (args.model or args.generated or args.data):  # bare `physfoley eval`
        args.eval_parser.print_help(sys.stderr)
        return 2
    from tqdm import tqdm

    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.classifier import load_eval_classifier
    from physfoley.evaluation.generated import load_generated, save_generated
    from physfoley.evaluation.runner import evaluation_report, evenly_spaced, generate_runs

    _check_args(args)
    source = Path(args.model or args.generated)
    default_out = (
        source / f"eval-{args.split}" if args.model else source.with_name(source.stem + "-eval")
    )
    out = Path(args.out) if args.out else default_out
    if (out / REPORT_JSON).exists() and not args.force:
        raise InputError(f"{out / REPORT_JSON} exists; pass --force to overwrite it")
    check_output_dir(out)

    data = PreparedData.open(args.data)
    audio = AudioConfig.from_dict(data.meta["preset"])
    split_rows = data.indices(args.split)
    if split_rows.size < 2:
        raise InputError(f"split {args.split!r} of {data.root} has fewer than 2 clips")
    if args.generated:  # its checks are cheap: before the classifier is loaded
        rows, runs = load_generated(args.generated, split_rows, audio)
    clf_dir = classifier_dir(data.root, args.classifier)
    clf = load_eval_classifier(clf_dir, device=args.device)
    clf.check_audio(audio)

    seeds = [args.seed + k for k in range(args.samples_per_clip)]
    settings: dict[str, Any] = {
        "data": str(data.root),
        "split": args.split,
        "classifier": str(clf_dir),
        "classifier_test_accuracy": clf.info.get("test_accuracy"),
        "fid_kid": "torchmetrics FrechetInceptionDistance / KernelInceptionDistance on the "
        f"classifier's {clf.model.embedding_dim}-d embedding (no Inception)",
        "kid_subsets": args.kid_subsets,
        "command": command_line(args),
    }
    if args.generated:
        settings["generated"] = str(args.generated)
        seeds = list(range(len(runs)))
    else:
        from physfoley.pipeline import ImpactPipeline

        rows = split_rows if args.max_clips is None else evenly_spaced(split_rows, args.max_clips)
        pipe = ImpactPipeline.from_pretrained(args.model, device=args.device)
        bars: dict[int, Any] = {}

        def on_batch(seed: int, clips: int) -> None:
            if seed not in bars:
                for bar in bars.values():
                    bar.close()
                bars[seed] = tqdm(
                    total=rows.size, desc=f"generate seed {seed}", unit="clip", file=sys.stderr
                )
            bars[seed].update(clips)

        runs = generate_runs(
            pipe,
            data.arrays["frames"],
            rows,
            seeds,
            sampler=args.sampler,
            steps=args.steps,
            batch_size=args.batch_size,
            on_batch=on_batch,
        )
        for bar in bars.values():
            bar.close()
        settings.update(
            model=str(args.model), sampler=args.sampler or "default", steps=args.steps or "default"
        )
    report, (low, high) = evaluation_report(
        clf,
        data,
        rows,
        runs,
        seeds,
        audio=audio,
        name=args.name or (source.stem if args.generated else source.name),
        settings=settings,
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        seed=args.seed,
        device=args.device,
    )
    write_report(out, report, force=args.force)
    if args.save_generated and args.model:
        save_generated(out / "generated.npz", rows, runs, seeds, force=args.force)
    m = report["metrics"]
    emit(
        args,
        report,
        f"wrote {out}/report.json and report.md: FID {m['fid']['mean']:.2f}, "
        f"KL {m['kl']['mean']:.3f}, recognition {100 * m['recognition_acc']['mean']:.1f} % "
        f"(real clips {100 * m['real_recognition_acc']['mean']:.1f} %; ratio "
        f"{m['recognition_ratio']['mean']:.3f}, 95 % interval over videos {low:.3f}-{high:.3f}), "
        f"n = {rows.size}",
    )
    return 0
