"""`physfoley eval baseline nn-visual|nn-sound`: the retrieval baselines of Table 3.

Writes their outputs (recorded sounds of retrieved training clips) as an .npz that
`physfoley eval --generated` scores (`physfoley.evaluation.retrieval_baselines`).

The library modules it calls (datasets, retrieval baselines, model directories) import torch,
so they are imported inside `run_baseline`: `physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse
import sys

from physfoley.atomic import check_output_path
from physfoley.commands import args as argtypes
from physfoley.commands.eval_common import command_line, emit, option_names
from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.outputs import write_npz


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "baseline",
        help="retrieval baselines of Table 3: write their outputs for `eval --generated`",
        description=(
            "For every clip of --split, retrieve a training clip and use its recorded sound: "
            "nn-visual by the nearest visual features of the model's encoder; nn-sound by the "
            "nearest sound features predicted from the per-frame visual features by an LSTM "
            "(Owens et al. 2016), trained here on the training split. Writes an .npz that "
            "`physfoley eval --generated FILE --data DIR` scores."
        ),
    )
    b.add_argument("kind", choices=("nn-visual", "nn-sound"), help="which baseline")
    b.add_argument("--model", required=True, help="model directory whose visual encoder is used")
    b.add_argument("--data", required=True, help="prepared dataset folder")
    b.add_argument("--out", required=True, help="output .npz")
    b.add_argument("--split", default="test", help="clips to produce sounds for (default: test)")
    b.add_argument("--epochs", type=int, default=30, help="nn-sound predictor epochs (30)")
    b.add_argument(
        "--seed", type=argtypes.seed, default=0, help="nn-sound training seed (default: 0)"
    )
    b.add_argument(
        "--device", default="cpu", type=argtypes.device, help="torch device (default: cpu)"
    )
    b.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    b.add_argument("--force", action="store_true", help="overwrite --out")
    b.set_defaults(func=run_baseline, option_names=option_names(b))


def run_baseline(args: argparse.Namespace) -> int:
    from physfoley.data.datasets import PreparedData
    from physfoley.evaluation.retrieval_baselines import baseline_rows, retrieval_baseline
    from physfoley.model_dir import load_model_dir

    out = check_output_path(args.out, force=args.force)
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out.name}")
    data = PreparedData.open(args.data)
    audio = AudioConfig.from_dict(data.meta["preset"])
    model, _ = load_model_dir(args.model)
    train_rows, query_rows = baseline_rows(data, args.split)
    print(f"encoding {train_rows.size + query_rows.size} windows", file=sys.stderr)
    found = retrieval_baseline(
        args.kind,
        model,
        data,
        audio,
        train_rows,
        query_rows,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )
    write_npz(
        out, force=args.force, rows=found.rows, specs=found.specs[None], neighbours=found.neighbours
    )
    doc = {"kind": args.kind, "model": str(args.model), **found.info, "out": str(out),
           "n_clips": int(found.rows.size), "same_material": found.same_material,
           "command": command_line(args)}  # fmt: skip
    emit(
        args,
        doc,
        f"wrote {out}: {args.kind} sounds for {found.rows.size} clips "
        f"({100 * found.same_material:.1f} % share the material of their clip); score it with "
        f"`physfoley eval --generated {out} --data {args.data}`",
    )
    return 0
