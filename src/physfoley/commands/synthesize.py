"""`physfoley synthesize VIDEO -o OUT.wav`: give a silent video the sound of its impacts.

`physfoley.pipeline` imports torch, so it is imported inside `run`: `physfoley --help` stays
quick to start.
"""

from __future__ import annotations

import argparse
import math
import sys

from physfoley import jsondoc
from physfoley.commands import args as argtypes
from physfoley.errors import InputError
from physfoley.outputs import check_soundtrack_outputs, result_json, write_soundtrack


def parse_times(text: str | None) -> list[float] | None:
    """'0.5,1.2, 3' -> [0.5, 1.2, 3.0]; None stays None; anything else is an InputError."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError("--times needs at least one time in seconds, e.g. --times 0.5,1.2")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--times must be comma-separated seconds; got {text!r}") from None


def parse_gains(text: str | None) -> list[float] | None:
    """'1,0.5' -> [1.0, 0.5]; None stays None; non-numbers or negatives are an InputError."""
    if text is None:
        return None
    try:
        gains = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--gains must be comma-separated numbers; got {text!r}") from None
    if not gains or any(not (g >= 0 and g < float("inf")) for g in gains):
        raise InputError(f"--gains must be non-negative numbers, one per impact; got {text!r}")
    return gains


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="give a silent video the sound of its impacts (detect, retrieve physics, diffuse)",
        description=(
            "Find the impacts in VIDEO (or take --times), generate each one's sound with the "
            "physics-driven diffusion model in one batch, place them on a soundtrack exactly as "
            "long as the video, and write it as audio (and, with --video-out, muxed into a copy "
            "of the video without re-encoding the picture)."
        ),
    )
    p.add_argument("video", help="input video file")
    p.add_argument("-o", "--out", required=True, help="output audio (.wav, .flac or .ogg)")
    p.add_argument(
        "--video-out",
        help="also write the video with the new soundtrack: .mp4, .m4v, .mov, .mkv or .webm "
        "(the picture is copied; .webm needs VP8/VP9/AV1 video and gets Opus sound)",
    )
    p.add_argument(
        "--original-audio",
        choices=("replace", "keep", "mix"),
        default="replace",
        help="what --video-out does with the video's own sound: replace it (default), keep it "
        "as a second audio track, or mix it into the new one at --original-gain-db; -o always "
        "holds the new soundtrack alone",
    )
    p.add_argument(
        "--original-gain-db",
        type=float,
        default=0.0,
        help="gain of the original sound in --original-audio mix (dB, default 0)",
    )
    p.add_argument(
        "--times", help="impact times in seconds, comma-separated (default: detect them)"
    )
    p.add_argument(
        "--model",
        help="model directory or shipped name: small (default, per impact), diff-foley or pavas "
        "(whole soundtracks, no detector); a directory says its family",
    )
    p.add_argument("--steps", type=int, help="diffusion sampling steps (default: the sampler's)")
    p.add_argument(
        "--sampler",
        help="sampler: ancestral, ddim, dpmsolver++ (or dpm++), flow_euler (default: the model's)",
    )
    p.add_argument("--seed", type=argtypes.seed, help="random seed for a reproducible result")
    p.add_argument(
        "--guidance",
        type=argtypes.number_at_least(0.0, what="0: unconditional, 1: no guidance"),
        help="classifier-free guidance scale, >= 0 (default: the model's)",
    )
    p.add_argument(
        "--cg-scale",
        type=argtypes.number_at_least(0.0, what="0: no alignment guidance"),
        help="diff-foley models: alignment-classifier guidance scale (gamma, eq. 8)",
    )
    for flag, what in (("--mass-scale", "mass"), ("--speed-scale", "speed")):
        p.add_argument(
            flag,
            type=argtypes.number_at_least(0.0, above=True, what="1 leaves it as seen"),
            help=f"what-if edit, > 0 (default 1): multiply the striker's {what} (per-impact "
            f"models: the impulse that sets each impact's level; pavas models: every object's "
            f"{what} the model is conditioned on)",
        )
    p.add_argument(
        "--physics-scale",
        type=argtypes.number_at_least(0.0, what="0: classifier-free guidance only"),
        help="pavas models: physics guidance, >= 0: amplifies what the mass and velocity tokens "
        "change, so a what-if edit moves the sound further (default: the model's)",
    )
    p.add_argument(
        "--device", default="cpu", type=argtypes.device, help="torch device (default: cpu)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: the CPUs not kept busy by other work)",
    )
    p.add_argument(
        "--no-tails",
        dest="tails",
        action="store_false",
        help="keep each impact to the model's 0.25 s (default: ring on until -60 dB, at most "
        "--max-tail-s)",
    )
    p.add_argument(
        "--tail-source",
        choices=("head", "neighbour"),
        default="neighbour",
        help="physics the tails continue: the retrieved neighbour's (default: closer to "
        "recorded tails) or the generated clip's own analysis",
    )
    p.add_argument("--max-tail-s", type=float, default=4.0, help="longest tail (default: 4 s)")
    p.add_argument(
        "--loudness",
        choices=("physics", "model"),
        default="physics",
        help="level of each impact: from its impulse m (v_before + v_after) measured in the "
        "picture (default) or as the model generated it",
    )
    p.add_argument(
        "--gains", help="per-impact linear gains, comma-separated, one per impact in time order"
    )
    p.add_argument(
        "--meters-per-pixel",
        type=float,
        help="scale of the video (default: its longer side is 0.4 m) for speeds in m/s",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run, default_of=p.get_default)


def run(args: argparse.Namespace) -> int:
    from physfoley.commands.synthesize_soundtrack import (
        APPLIES,
        PAVAS_APPLIES,
        refuse_inapplicable,
        run_soundtrack,
    )
    from physfoley.families import load_pipeline
    from physfoley.soundtrack_pipeline import SoundtrackPipeline
    from physfoley.video.io import truncation_note

    # Validate everything cheap before any work, so bad input leaves no partial output.
    times = parse_times(args.times)
    audio_out, video_out = check_soundtrack_outputs(
        args.video, args.out, args.video_out, force=args.force, original_audio=args.original_audio
    )
    if not math.isfinite(args.original_gain_db):
        raise InputError("--original-gain-db must be a finite number of dB, e.g. -12")
    gains = parse_gains(args.gains)
    if not args.max_tail_s > 0:
        raise InputError("--max-tail-s must be a positive number of seconds")
    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError("--threads must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model, device=args.device)
    if isinstance(pipe, SoundtrackPipeline):  # the diff-foley family: whole soundtracks
        applies = PAVAS_APPLIES if pipe.family == "pavas" else APPLIES
        refuse_inapplicable(args, args.default_of, applies)
        return run_soundtrack(args, pipe, audio_out, video_out)
    if args.cg_scale is not None:
        raise InputError("--cg-scale needs a diff-foley model; drop it for per-impact models")
    if args.physics_scale is not None:
        raise InputError("--physics-scale needs a pavas model; drop it for per-impact models")
    result = pipe.synthesize(
        args.video,
        times=times,
        steps=args.steps,
        sampler=args.sampler,
        seed=args.seed,
        guidance=args.guidance,
        tails=args.tails,
        tail_source=args.tail_source,
        max_tail_s=args.max_tail_s,
        loudness=args.loudness,
        speed_scale=1.0 if args.speed_scale is None else args.speed_scale,
        mass_scale=1.0 if args.mass_scale is None else args.mass_scale,
        gains=gains,
        meters_per_pixel=args.meters_per_pixel,
    )
    if result.video is not None and result.video.truncated:
        print(f"physfoley synthesize: {truncation_note(args.video, result.video)}", file=sys.stderr)
    if not result.impacts:
        print("physfoley synthesize: no impacts found; the soundtrack is silent", file=sys.stderr)
    if result.normalized:
        print(
            f"physfoley synthesize: overlapping impacts would clip; mix scaled by "
            f"{result.gain:.3f}",
            file=sys.stderr,
        )
    write_soundtrack(
        result.audio,
        result.sample_rate,
        audio_out,
        video=args.video,
        video_out=video_out,
        force=args.force,
        original_audio=args.original_audio,
        original_gain_db=args.original_gain_db,
    )
    if args.json:
        video = str(video_out) if video_out is not None else None
        print(jsondoc.dumps({"audio": str(audio_out), "video": video, **result_json(result)}))
    else:
        for imp in result.impacts:
            print(
                f"{imp.time_s:8.3f} s  physics of {imp.neighbour} ({imp.neighbour_material})",
                file=sys.stderr,
            )
        print(f"wrote {audio_out}" + (f" and {video_out}" if video_out else ""), file=sys.stderr)
    return 0
