"""`physfoley synthesize VIDEO -o OUT.wav`: give a silent video the sound of its impacts."""

from __future__ import annotations

import argparse
import json
import sys

from physfoley.errors import InputError


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
        "--video-out", help="also write the video with the new soundtrack (.mp4/.mov/.mkv)"
    )
    p.add_argument(
        "--times", help="impact times in seconds, comma-separated (default: detect them)"
    )
    p.add_argument("--model", help="model directory (default: the shipped small model)")
    p.add_argument("--steps", type=int, help="diffusion sampling steps (default: the sampler's)")
    p.add_argument("--sampler", help="sampler name, e.g. ddim, dpm++, ancestral")
    p.add_argument("--seed", type=int, help="random seed for a reproducible result")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice; 1 is best on a busy machine)",
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
    p.add_argument("--speed-scale", type=float, default=1.0, help="multiply measured speeds")
    p.add_argument("--mass-scale", type=float, default=1.0, help="multiply the striker mass")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from physfoley.outputs import check_soundtrack_outputs, result_json, write_soundtrack
    from physfoley.pipeline import ImpactPipeline

    # Validate everything cheap before any work, so bad input leaves no partial output.
    times = parse_times(args.times)
    audio_out, video_out = check_soundtrack_outputs(
        args.video, args.out, args.video_out, force=args.force
    )
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
    pipe = ImpactPipeline.from_pretrained(args.model, device=args.device)
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
        speed_scale=args.speed_scale,
        mass_scale=args.mass_scale,
        gains=gains,
        meters_per_pixel=args.meters_per_pixel,
    )
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
    )
    if args.json:
        video = str(video_out) if video_out is not None else None
        print(json.dumps({"audio": str(audio_out), "video": video, **result_json(result)}))
    else:
        for imp in result.impacts:
            print(
                f"{imp.time_s:8.3f} s  physics of {imp.neighbour} ({imp.neighbour_material})",
                file=sys.stderr,
            )
        print(f"wrote {audio_out}" + (f" and {video_out}" if video_out else ""), file=sys.stderr)
    return 0
