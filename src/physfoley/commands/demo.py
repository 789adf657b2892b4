"""`physfoley demo`: run physfoley end to end on material made in code, no download needed.

The audio half (`physfoley.audio.demo`, DIR/audio/): a built-in struck-bar sound analysed into
modes and residual noise, resynthesised and edited. The video half (`physfoley.demo`): a silent
SynthHits scene gets its impact sounds -> DIR/out.wav, DIR/out.mp4, DIR/spectrogram.png.

Both halves import torch, so they are imported inside `run_demo`: `physfoley --help` stays
quick to start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from physfoley import jsondoc
from physfoley.commands import args as argtypes
from physfoley.errors import InputError

#: The demo scene's defaults, the same as `physfoley.demo`'s (that module imports torch, so it is
#: not imported when the parser is built; tests/test_cli_synthesize.py checks they agree).
DEMO_SCENE_SEED = 9
DEMO_SECONDS = 7.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the built-in demo: a generated video gets its impact sounds (and audio edits)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run physfoley on material made in code, no download needed.\n"
            "Video: a 7 s SynthHits scene (a stick hitting metal and wood) is generated without\n"
            "its soundtrack; its impacts are detected in the picture and their sound synthesised\n"
            "with the shipped model -> DIR/out.wav, DIR/out.mp4 (video + new soundtrack) and\n"
            "DIR/spectrogram.png (the scene's simulated recording above, the synthesis below).\n"
            "Audio: a built-in struck-bar sound analysed into modes + residual noise,\n"
            "resynthesised and edited three ways -> DIR/audio/ (skip with --no-audio)."
        ),
        epilog="example:\n  physfoley demo --out demo && ls demo",
    )
    p.add_argument(
        "--out", default="demo", metavar="DIR", help="folder to write into (default: demo)"
    )
    p.add_argument("--model", metavar="DIR", help="model directory (default: the shipped model)")
    p.add_argument(
        "--seed",
        type=argtypes.seed,
        default=DEMO_SCENE_SEED,
        help="SynthHits scene seed (default: %(default)s)",
    )
    p.add_argument(
        "--seconds", type=float, default=DEMO_SECONDS, help="scene length (default: %(default)s)"
    )
    p.add_argument("--steps", type=int, help="diffusion steps (default: the model's)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--no-audio", action="store_true", help="skip the audio analysis/edit demo")
    p.add_argument(
        "--preset",
        choices=("paper", "small"),
        default="paper",
        help="audio preset of the audio demo (default: paper)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--force", action="store_true", help="overwrite files from an earlier run")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if args.seconds < 1.5:
        raise InputError("--seconds must be at least 1.5")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    out.mkdir(parents=True, exist_ok=True)
    from physfoley.audio.demo import run_audio_demo
    from physfoley.demo import check_video_demo_outputs, run_video_demo

    check_video_demo_outputs(out, force=args.force)  # fail before the audio half writes anything
    summary: dict = {}
    if not args.no_audio:
        print(
            "physfoley demo: analysing and editing a built-in struck-bar sound ...", file=sys.stderr
        )
        summary["audio"] = run_audio_demo(out / "audio", force=args.force, preset=args.preset)
    print(
        "physfoley demo: generating a silent SynthHits video, detecting its impacts, "
        "synthesising their sound ...",
        file=sys.stderr,
    )
    summary["video"] = video = run_video_demo(
        out,
        force=args.force,
        model=args.model,
        seed=args.seed,
        seconds=args.seconds,
        steps=args.steps,
    )
    if args.json:
        print(jsondoc.dumps(summary))
        return 0
    if "audio" in summary:
        for name, path in summary["audio"]["files"].items():
            print(f"wrote {path}  ({name})", file=sys.stderr)
    hits = ", ".join(f"{h['time_s']:.2f} s {h['material']}" for h in video["annotated_hits"])
    print(f"  annotated hits: {hits}", file=sys.stderr)
    for imp in video["impacts"]:
        print(
            f"  detected {imp['time_s']:6.2f} s -> physics of {imp['neighbour']} "
            f"({imp['neighbour_material']})",
            file=sys.stderr,
        )
    for path in video["files"].values():
        print(f"wrote {path}", file=sys.stderr)
    return 0
