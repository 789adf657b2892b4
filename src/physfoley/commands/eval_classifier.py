"""`physfoley eval train-classifier --data DIR`: train the evaluation classifier.

The classifier (material from spectrogram) whose features and posteriors `physfoley eval` uses;
the training is `physfoley.evaluation.classifier_training`.

The library modules it calls (datasets, the classifier and its training) import torch, so
they are imported inside `run_train_classifier`: `physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from physfoley.atomic import check_output_dir
from physfoley.commands import args as argtypes
from physfoley.commands.eval_common import (
    DEFAULT_CLASSIFIER_SUBDIR,
    command_line,
    emit,
    option_names,
)
from physfoley.config import AudioConfig
from physfoley.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train-classifier",
        help="train the evaluation classifier (material from spectrogram) on a prepared dataset",
        description=(
            "Train the material classifier whose features and posteriors `physfoley eval` uses, "
            "on the recorded clips of the training split (about 10 % of its videos held out to "
            "pick the best epoch), and report its accuracy on the real clips of the test split."
        ),
    )
    t.add_argument("--data", required=True, help="prepared dataset folder")
    t.add_argument("--out", help=f"classifier folder (default: DATA/{DEFAULT_CLASSIFIER_SUBDIR})")
    t.add_argument("--epochs", type=int, help="training epochs (default 20)")
    t.add_argument("--batch-size", type=int, help="batch size (default 64)")
    t.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    t.add_argument("--widths", help="channels per ResNet stage, e.g. 16,32,64,128")
    t.add_argument("--blocks-per-stage", type=int, help="residual blocks per stage (default 1)")
    t.add_argument("--seed", type=argtypes.seed, default=0, help="random seed (default: 0)")
    t.add_argument("--max-train", type=int, help="use at most N training clips (quick runs)")
    t.add_argument(
        "--device", default="cpu", type=argtypes.device, help="torch device (default: cpu)"
    )
    t.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    t.add_argument("--force", action="store_true", help="overwrite an existing classifier")
    t.set_defaults(func=run_train_classifier, option_names=option_names(t))


def run_train_classifier(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.classifier import CONFIG_FILE, ClassifierConfig, save_eval_classifier
    from physfoley.evaluation.classifier_training import classifier_rows, fit_eval_classifier

    data = PreparedData.open(args.data)
    out = Path(args.out) if args.out else data.root / DEFAULT_CLASSIFIER_SUBDIR
    if (out / CONFIG_FILE).exists() and not args.force:
        raise InputError(f"{out} already holds a classifier; pass --force to overwrite it")
    check_output_dir(out)
    overrides: dict[str, Any] = {"seed": args.seed, "num_classes": len(data.materials)}
    for key in ("epochs", "batch_size", "lr", "blocks_per_stage"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.widths:
        try:
            overrides["widths"] = tuple(int(w) for w in args.widths.split(","))
        except ValueError:
            raise InputError(
                f"--widths must be comma-separated integers, got {args.widths!r}"
            ) from None
    cfg = ClassifierConfig.from_dict({**ClassifierConfig().to_dict(), **overrides})
    audio = AudioConfig.from_dict(data.meta["preset"])
    train_rows, test_rows = classifier_rows(data, max_train=args.max_train)
    print(
        f"computing spectrograms of {train_rows.size} train and {test_rows.size} test clips",
        file=sys.stderr,
    )
    bar = tqdm(total=cfg.epochs, desc="eval classifier", unit="epoch", file=sys.stderr)

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k != "epoch"})

    clf = fit_eval_classifier(
        data,
        cfg,
        audio,
        train_rows,
        test_rows,
        device=args.device,
        command=command_line(args),
        on_epoch=on_epoch,
    )
    bar.close()
    save_eval_classifier(out, clf, force=args.force)
    emit(
        args,
        {"classifier": str(out), **clf.info},
        f"saved the evaluation classifier to {out}; accuracy on the {test_rows.size} real test "
        f"clips: {100 * clf.info['test_accuracy']:.2f} %",
    )
    return 0
