"""`physfoley data synth`: write a SynthHits dataset (Greatest Hits layout + physics ground truth).

SynthHits (`physfoley.data.synthhits`) imports scipy and numba, so it is imported inside `run`:
`physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse
import sys

from physfoley import jsondoc
from physfoley.atomic import check_output_dir
from physfoley.commands import args as argtypes
from physfoley.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a SynthHits dataset (procedural videos of struck objects, with ground truth)",
        description=(
            "Generate SynthHits videos in the Greatest Hits layout: NAME_denoised.mp4 (224x224, "
            "29.97 fps, H.264), NAME_denoised.wav (44.1 kHz mono), NAME_times.txt and "
            "NAME_physics.json (the physics of every hit). Deterministic for a seed; resumable "
            "(finished videos are skipped unless --force)."
        ),
    )
    p.add_argument("--out", help="output folder (created if missing)")
    p.add_argument("--videos", type=int, default=100, help="number of videos (default 100)")
    p.add_argument(
        "--seconds", type=float, default=10.0, help="length of each video in s (default 10)"
    )
    p.add_argument("--seed", type=argtypes.seed, default=0, help="dataset seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--force", action="store_true", help="regenerate and overwrite existing videos")
    p.add_argument(
        "--backswing",
        type=float,
        default=0.0,
        metavar="P",
        help=(
            "probability (0-1) that a hit is preceded by a back-swing: the stick rises fast, "
            "stops at once at the top, holds 0-2 frames, then swings down into the hit (silent "
            "motion for tuning impact detectors; the sound stays that of P=0; default 0)"
        ),
    )
    p.add_argument(
        "--contact-sheet",
        metavar="PNG",
        help=(
            "instead of a dataset, write a contact sheet of frames at contact per material to PNG "
            "and spectrograms of hits per material to PNG_spectrograms.png"
        ),
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.seconds < 1.5:
        raise InputError(f"--seconds must be >= 1.5 (got {args.seconds})")
    if not 0.0 <= args.backswing <= 1.0:
        raise InputError(f"--backswing must be in [0, 1] (got {args.backswing})")
    if args.workers < 1:
        raise InputError(f"--workers must be >= 1 (got {args.workers})")
    if not args.out and not args.contact_sheet:
        raise InputError("give --out DIR (or --contact-sheet PNG)")
    if args.contact_sheet:
        from physfoley.data.synthhits.sheet import contact_sheet

        paths = contact_sheet(args.contact_sheet, seed=args.seed, force=args.force)
        if args.json:
            print(jsondoc.dumps({"written": [str(p) for p in paths]}))
        else:
            for path in paths:
                print(f"wrote {path}", file=sys.stderr)
        return 0
    from tqdm import tqdm

    if args.videos < 1:
        raise InputError(f"--videos must be >= 1 (got {args.videos})")
    check_output_dir(args.out)

    from physfoley.data.synthhits import generate_dataset

    bar = tqdm(total=args.videos, desc="synth", unit="video", file=sys.stderr)

    def tick(name: str, status: str) -> None:
        bar.update(1)
        bar.set_postfix_str(status)

    try:
        summary = generate_dataset(
            args.out,
            videos=args.videos,
            seconds=args.seconds,
            seed=args.seed,
            workers=args.workers,
            force=args.force,
            on_video=tick,
            backswing_prob=args.backswing,
        )
    finally:
        bar.close()
    summary.pop("names", None)
    if args.json:
        print(jsondoc.dumps(summary))
    else:
        print(
            f"{args.out}: {summary['made']} made, {summary['skipped']} already there "
            f"({summary['videos']} videos, {args.seconds:g} s each, seed {args.seed})",
            file=sys.stderr,
        )
    return 0
