"""`physfoley demo`: run physfoley end to end on built-in material, no download needed.

For now the audio half: a built-in struck-bar sound is analysed into modes and residual noise,
resynthesised and edited (heavier, brighter, longer ring); wavs, parameters and a plot land in
--out. The video pipeline extends this command.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the built-in demo (writes sounds and a plot into a folder)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run physfoley on built-in material, no download needed: a struck-bar sound made from\n"
            "physics is analysed into modes + residual noise, resynthesised, and edited three\n"
            "ways (heavier = lower and longer, brighter = higher, longer_ring = half the damping).\n"
            "Listen to original.wav against resynth.wav and the edits; analysis.png shows the modes."
        ),
        epilog="example:\n  physfoley demo --out demo && ls demo",
    )
    p.add_argument(
        "--out", default="demo", metavar="DIR", help="folder to write into (default: demo)"
    )
    p.add_argument(
        "--preset",
        choices=("paper", "small"),
        default="paper",
        help="audio preset (default: paper)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite files from an earlier run")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from physfoley.audio.demo import run_audio_demo

    print("physfoley demo: analysing and editing a built-in struck-bar sound ...", file=sys.stderr)
    summary = run_audio_demo(args.out, force=args.force, preset=args.preset)
    if args.json:
        print(json.dumps(summary))
    else:
        for mode in summary["strongest_modes"]:
            print(
                f"  mode {mode['freq_hz']:8.1f} Hz  {mode['power_db']:6.1f} dB  "
                f"{mode['decay_db_per_s']:7.1f} dB/s",
                file=sys.stderr,
            )
        for name, path in summary["files"].items():
            print(f"wrote {path}  ({name})", file=sys.stderr)
    return 0
