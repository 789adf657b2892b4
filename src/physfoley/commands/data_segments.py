"""`physfoley data segments ROOT --out DIR`: Greatest Hits layout -> aligned audio/frame timelines."""

from __future__ import annotations

import argparse
import sys

from physfoley import jsondoc
from physfoley.commands import args as argtypes


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "segments",
        help="cut aligned log-mel / frame segments for the soundtrack (Diff-Foley) family",
        description=(
            "Read a folder in the Greatest Hits layout (real or SynthHits) and write, per video, "
            "the whole log-mel timeline (float16) and the frames at the preset's visual rate "
            "(uint8), memory-mappable, with the true hit times (NAME_physics.json, else "
            "NAME_times.txt); index.csv lists the canonical segments. Split by video; resumable."
        ),
    )
    parser.add_argument("root", help="folder holding NAME_denoised.mp4 / NAME_times.txt files")
    parser.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    parser.add_argument("--preset", default="small", choices=["small", "paper"], help="timing")
    parser.add_argument("--workers", type=int, default=2, help="videos at once (threads)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of test videos")
    parser.add_argument("--seed", type=argtypes.seed, default=0, help="seed of the split by video")
    parser.add_argument(
        "--segment-hop-s", type=float, help="hop of index.csv's segments (default: one segment)"
    )
    parser.add_argument(
        "--level",
        choices=["peak", "recorded"],
        default="peak",
        help=(
            "sound level stored: peak = every video scaled to a 0.9 peak (Diff-Foley); recorded "
            "= as recorded, SynthHits' random per-video gain undone, so loudness follows the "
            "hit's physics across videos (what PAVAS' speed and mass edits need)"
        ),
    )
    parser.add_argument("--force", action="store_true", help="rebuild a folder with other settings")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from physfoley.data.segments import SegmentOptions, prepare_segments
    from physfoley.errors import InputError

    if args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    options = SegmentOptions(
        preset=args.preset,
        test_fraction=args.test_fraction,
        seed=args.seed,
        segment_hop_s=args.segment_hop_s,
        level=args.level,
    )
    bars = []

    def on_start(total: int, cached: int) -> None:
        if cached:
            print(f"{cached} of {total} videos already prepared; skipping them", file=sys.stderr)
        bars.append(tqdm(total=total - cached, unit="video", disable=args.no_progress))

    def on_video(result: dict) -> None:
        if not result["ok"]:
            tqdm.write(f"skipped {result['name']}: {result['error']}", file=sys.stderr)
        bars[0].update(1)

    try:
        summary = prepare_segments(
            args.root,
            args.out,
            options,
            workers=args.workers,
            force=args.force,
            on_start=on_start,
            on_video=on_video,
        )
    finally:
        for bar in bars:
            bar.close()
    if args.json:
        print(jsondoc.dumps(summary, indent=2))
    split = summary["segments_per_split"]
    print(
        f"prepared {summary['videos']} videos ({summary['videos_cached']} cached, "
        f"{summary['videos_failed']} failed), {summary['segments']} segments "
        f"(train {split['train']}, test {split['test']}), {summary['hits']} hits in "
        f"{summary['seconds']:.1f} s -> {summary['out']}",
        file=sys.stderr,
    )
    if summary["videos"] == 0:
        print("physfoley data segments: error: no video could be prepared", file=sys.stderr)
        return 2
    return 0
