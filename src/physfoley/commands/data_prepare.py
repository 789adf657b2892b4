"""`physfoley data prepare ROOT --out DIR`: Greatest Hits layout -> compact training dataset.

`physfoley.data.clips` and `physfoley.data.prepare` import torch, so they are imported inside
`run`: `physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse
import sys

from physfoley import jsondoc
from physfoley.atomic import check_output_dir
from physfoley.commands import args as argtypes
from physfoley.errors import InputError
from physfoley.materials import MATERIALS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "prepare",
        help="cut impact clips, frame windows and modal parameters from a Greatest Hits folder",
        description=(
            "Read a folder in the Greatest Hits layout (real or SynthHits: NAME_denoised.mp4, "
            "NAME_denoised.wav or the mp4's audio, NAME_times.txt), keep the annotated hits that "
            "pass the filter (default: the paper's hit + static, 10 materials), and write a "
            "compact dataset: waves/frames/modal .npy arrays, index.csv, meta.json, summary.json. "
            "Resumable: a second run only does new or changed videos. Train/test is split by video."
        ),
    )
    parser.add_argument("root", help="folder holding NAME_denoised.mp4 / NAME_times.txt files")
    parser.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    parser.add_argument(
        "--preset", default="small", choices=["small", "paper"], help="audio/video preset"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="videos prepared at once (threads; default 2)"
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run the workers as processes instead of threads (long jobs on many cores)",
    )
    parser.add_argument(
        "--materials", nargs="+", default=list(MATERIALS), metavar="M", help="materials kept"
    )
    parser.add_argument("--actions", nargs="+", default=["hit"], metavar="A", help="actions kept")
    parser.add_argument(
        "--reactions", nargs="+", default=["static"], metavar="R", help="reactions kept"
    )
    parser.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of videos in the test split"
    )
    parser.add_argument("--seed", type=argtypes.seed, default=0, help="seed of the split by video")
    parser.add_argument(
        "--force", action="store_true", help="rebuild a folder prepared with other settings"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from physfoley.data.clips import PrepareOptions
    from physfoley.data.prepare import prepare_dataset

    if args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    check_output_dir(args.out)
    options = PrepareOptions(
        preset=args.preset,
        materials=tuple(m.lower() for m in args.materials),
        actions=tuple(a.lower() for a in args.actions),
        reactions=tuple(r.lower() for r in args.reactions),
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    bar = None

    def on_start(total: int, cached: int) -> None:
        nonlocal bar
        if cached:
            print(f"{cached} of {total} videos already prepared; skipping them", file=sys.stderr)
        bar = tqdm(
            total=total - cached,
            unit="video",
            desc="prepare",
            leave=False,
            disable=args.no_progress,
            file=sys.stderr,
        )

    failed = 0

    def on_video(result: dict) -> None:
        nonlocal failed
        failed += not result["ok"]
        if bar is not None:
            bar.update(1)
            if failed:  # named in the summary (or the error) at the end
                bar.set_postfix_str(f"{failed} unreadable")

    try:
        summary = prepare_dataset(
            args.root,
            args.out,
            options,
            workers=args.workers,
            processes=args.processes,
            force=args.force,
            on_video=on_video,
            on_start=on_start,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(jsondoc.dumps(summary, indent=2))
    split = summary["clips_per_split"]
    print(
        f"prepared {summary['clips']} clips from {summary['videos_prepared']} videos "
        f"(train {split.get('train', 0)}, test {split.get('test', 0)}; "
        f"{summary['videos_cached']} cached, {summary['videos_failed']} failed) in "
        f"{summary['seconds']:.1f} s -> {summary['out']}",
        file=sys.stderr,
    )
    filtered = summary["filtered_out"]
    print(
        f"  annotations {summary['annotations']}, filtered out: material {filtered['material']}, "
        f"action {filtered['action']}, reaction {filtered['reaction']}; "
        f"padded windows {summary['windows_padded']}, zero-padded clips "
        f"{summary['clips_audio_padded']}, hits past the audio "
        f"{summary['skipped_hits']['outside_audio']}, silent clips "
        f"{summary['skipped_hits']['silent_clip']}",
        file=sys.stderr,
    )
    for fail in summary["failed"]:
        print(f"  failed: {fail['video']}: {fail['error']}", file=sys.stderr)
    return 0
