"""`physfoley train residual|visual|diffusion`: the three training stages of the model.

Thin wrapper over `physfoley.training`; runs unchanged under `torchrun --nproc_per_node=N`.

The training modules import torch, so they are imported inside `run`: `physfoley --help`
stays quick to start.
"""

from __future__ import annotations

import argparse
import sys

from physfoley import jsondoc
from physfoley.atomic import check_output_dir
from physfoley.commands import args as argtypes
from physfoley.errors import InputError

STAGES = {
    "residual": "residual network: spectrogram -> noise-band weights/decays (writes them into the dataset)",
    "visual": "visual encoder (ResNet + TSM) trained as a material classifier",
    "diffusion": "physics encoder + denoiser; writes OUT/model (weights, config, physics bank)",
    # the soundtrack (Diff-Foley) family: run vae, cavp, align, then ldm (docs/soundtrack.md)
    "vae": "soundtrack family: spectrogram VAE on `data segments` folders",
    "cavp": "soundtrack family: contrastive audio-visual pretraining (video + audio encoders)",
    "align": "soundtrack family: alignment classifier for double guidance",
    "ldm": "soundtrack family: latent diffusion; writes the complete model dir OUT/model",
    "pavas": "PAVAS: flow-matching DiT (phase backbone) then Phy-Adapter (phase adapter)",
}
SOUNDTRACK_STAGES = ("vae", "cavp", "align", "ldm", "pavas")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the residual, visual or diffusion stage",
        description=(
            "Train one stage of the model. Run residual, visual, then diffusion (the diffusion "
            "stage reads OUT/../visual unless visual_dir is set). Progress bars on stderr, "
            "TensorBoard logs in OUT/tb, safetensors checkpoints in OUT/checkpoints; --resume "
            "continues exactly where a killed run stopped."
        ),
    )
    parser.add_argument(
        "stage", choices=sorted(STAGES), help="; ".join(f"{k}: {v}" for k, v in STAGES.items())
    )
    parser.add_argument(
        "--config", required=True, help="YAML file of training settings (see configs/)"
    )
    parser.add_argument("--data", help="prepared dataset folder (overrides the config's `data`)")
    parser.add_argument("--out", help="run folder (default: runs/STAGE)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    parser.add_argument(
        "--device",
        type=argtypes.device,
        help="cpu, cuda or cuda:N (default: cuda if available, else cpu)",
    )
    parser.add_argument("--max-steps", type=int, help="override the config's max_steps")
    parser.add_argument(
        "--time-budget-s", type=float, help="stop (with a checkpoint) after this many seconds"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--json", action="store_true", help="print the run summary as JSON on stdout"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from physfoley.training import common

    if args.stage in SOUNDTRACK_STAGES:
        from physfoley.commands.train_soundtrack import run as run_soundtrack

        return run_soundtrack(args)
    cfg = common.load_train_config(
        args.stage, args.config, max_steps=args.max_steps, time_budget_s=args.time_budget_s
    )
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError("--max-steps must be at least 1")
    out = args.out or f"runs/{args.stage}"
    check_output_dir(out)
    kwargs = dict(
        data_dir=args.data,
        out_dir=out,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
    )
    if args.stage == "residual":
        from physfoley.training.residual import train_residual as train
    elif args.stage == "visual":
        from physfoley.training.visual import train_visual as train
    else:
        from physfoley.training.diffusion import train_diffusion as train
    summary = train(cfg, **kwargs)
    summary.pop("model_config", None)
    if args.json:
        print(jsondoc.dumps(summary))
    else:
        print(f"physfoley train {args.stage}: done, {jsondoc.dumps(summary)}", file=sys.stderr)
    return 0
