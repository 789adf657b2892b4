"""`physfoley detect VIDEO`: find impacts in the picture alone (no soundtrack is read)."""

from __future__ import annotations

import argparse
import math
import sys

from physfoley import jsondoc
from physfoley.atomic import atomic_path, check_output_path
from physfoley.commands import args as argtypes
from physfoley.errors import InputError
from physfoley.video.events import MIN_FRAMES, detect_impacts
from physfoley.video.io import truncation_note
from physfoley.video.physics import DENSITY_KG_M3, FixedMassEstimator, MaterialSizeMassEstimator
from physfoley.video.stream import decode_for_detection


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect",
        help="find impacts (time, position, striker speed, mass, energy) in a video",
        description=(
            "Find the moments a striker is abruptly stopped or reversed, from the picture alone "
            "(where the swept motion of the striker stops at once; or dense optical flow with "
            "--method flow, or tracking of the striker's leading point with --method tip; see "
            "docs/detection.md). "
            "The soundtrack, if any, is never read."
        ),
    )
    p.add_argument("video", help="video file (any frame rate, size, rotation; VFR is fine)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--plot", metavar="PNG", help="draw striker speed over time, impacts marked")
    p.add_argument(
        "--meters-per-pixel", type=float, default=None, metavar="X", help="scale for m/s speeds"
    )
    p.add_argument(
        "--mass-kg", type=float, default=None, metavar="X", help="mass to use for energy (kg)"
    )
    p.add_argument(
        "--material",
        default=None,
        metavar="NAME",
        help="struck material (glass, wood, ceramic, metal, cloth, plastic, drywall, carpet, "
        "paper, rock): estimates mass from density x apparent size (needs --meters-per-pixel)",
    )
    p.add_argument(
        "--method",
        choices=("swing", "flow", "tip"),
        default="swing",
        help="swing: where the swept motion stops at once (default, best on real footage); "
        "flow: dense optical flow; tip: track the striker's leading point (far better on "
        "SynthHits; see docs/detection.md)",
    )
    p.add_argument(
        "--threshold",
        type=argtypes.number_at_least(0.0, above=True, what="image long-sides/s of deceleration"),
        default=None,
        help="score threshold, > 0 (advanced; default: the method's)",
    )
    p.add_argument("--force", action="store_true", help="overwrite the --plot file")
    p.set_defaults(func=run)


def _finite(x):
    return None if x is None or not math.isfinite(x) else x


def run(args: argparse.Namespace) -> int:
    if args.meters_per_pixel is not None and not args.meters_per_pixel > 0:
        raise InputError("--meters-per-pixel must be > 0")
    if args.plot:
        check_output_path(args.plot, force=args.force)
    estimator = None
    if args.mass_kg is not None:
        estimator = FixedMassEstimator(args.mass_kg)
    elif args.material is not None:
        if args.meters_per_pixel is None:
            raise InputError("--material needs --meters-per-pixel to turn apparent size into m^2")
        estimator = MaterialSizeMassEstimator()
        if args.material.lower() not in DENSITY_KG_M3:
            raise InputError(
                f"unknown material {args.material!r}; use one of {', '.join(DENSITY_KG_M3)}"
            )
    video = decode_for_detection(args.video, method=args.method)
    if video.truncated:
        print(f"physfoley detect: {truncation_note(args.video, video)}", file=sys.stderr)
    if video.num_frames < MIN_FRAMES:
        raise InputError(
            f"{args.video} has {video.num_frames} frames; impact detection needs at least "
            f"{MIN_FRAMES} (one 22-frame window)"
        )
    events, track = detect_impacts(
        video,
        meters_per_pixel=args.meters_per_pixel,
        mass_estimator=estimator,
        material=args.material,
        threshold=args.threshold,
        method=args.method,
        return_track=True,
    )
    if args.plot:
        _plot(args.plot, track, events, force=args.force)
    doc = {
        "fps": float(video.fps),
        "num_frames": int(video.num_frames),
        "impacts": [{k: _finite(v) for k, v in e.to_dict().items()} for e in events],
    }
    if args.json:
        sys.stdout.write(jsondoc.dumps(doc) + "\n")
    else:
        print(
            f"{args.video}: {len(events)} impacts ({video.num_frames} frames, {video.fps:.3f} fps)",
            file=sys.stderr,
        )
        for e in events:
            sb = (
                f"{e.speed_before_m_s:.2f} m/s"
                if e.speed_before_m_s is not None
                else (f"{e.speed_before_px_s:.0f} px/s")
            )
            print(
                f"  t={e.time_s:7.3f}s frame {e.frame:5d} conf {e.confidence:.2f} "
                f"at ({e.x:.0f},{e.y:.0f}) speed before {sb}",
                file=sys.stderr,
            )
    return 0


def _plot(path, track, events, *, force: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    ax[0].plot(track.times_s, track.speed_px_s, lw=1, color="tab:blue")
    ax[0].set_ylabel("striker speed (px/s)")
    ax[1].plot(track.times_s, track.score, lw=1, color="tab:orange")
    ax[1].set_ylabel("deceleration score\n(long sides / s)")
    ax[1].set_xlabel("time (s)")
    for e in events:
        for a in ax:
            a.axvline(e.time_s, color="red", lw=1, alpha=0.7)
    ax[0].set_title(f"{len(events)} impacts (red lines)")
    fig.tight_layout()
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
