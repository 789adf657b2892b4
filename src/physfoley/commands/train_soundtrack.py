"""`physfoley train vae|cavp|align|ldm|pavas`: the soundtrack (Diff-Foley) family's stages.

Called by `commands.train` with its parsed arguments (same options as the other stages).
"""

from __future__ import annotations

import argparse
import json
import sys

TRAINERS = {
    "vae": ("physfoley.training.vae", "train_vae"),
    "cavp": ("physfoley.training.cavp", "train_cavp"),
    "align": ("physfoley.training.align", "train_align"),
    "ldm": ("physfoley.training.ldm", "train_ldm"),
    "pavas": ("physfoley.training.pavas", "train_pavas"),
}


def run(args: argparse.Namespace) -> int:
    import importlib

    from physfoley.errors import InputError
    from physfoley.training.soundtrack_common import load_stage_config

    if args.max_steps is not None and args.max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    cfg = load_stage_config(
        args.stage, args.config, max_steps=args.max_steps, time_budget_s=args.time_budget_s
    )
    module, name = TRAINERS[args.stage]
    train = getattr(importlib.import_module(module), name)
    summary = train(
        cfg,
        data_dir=args.data,
        out_dir=args.out or f"runs/{args.stage}",
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"physfoley train {args.stage}: done, {json.dumps(summary)}", file=sys.stderr)
    return 0
