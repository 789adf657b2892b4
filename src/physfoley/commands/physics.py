"""`physfoley physics VIDEO`: the moving objects of a video with their mass and velocity."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from physfoley import jsondoc
from physfoley.atomic import check_output_path
from physfoley.errors import InputError
from physfoley.video.flow import DEFAULT_WORK_SIZE
from physfoley.video.object_mass import ApparentVolumeMassEstimator
from physfoley.video.objects import (
    DEFAULT_MAX_OBJECTS,
    MotionSegmenter,
    default_meters_per_pixel,
    estimate_objects,
    read_work_video,
    save_object_masks,
)
from physfoley.video.physics import DENSITY_KG_M3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "physics",
        help="moving objects of a video: mass (kg), per-frame velocity (m/s), masks",
        description=(
            "Find the things that move in a video (motion segmentation with camera motion "
            "removed), and give each one mass and a velocity per frame, as PAVAS conditions "
            "its sound on (see docs/physics.md). The soundtrack, if any, is never read."
        ),
    )
    p.add_argument("video", help="video file (any frame rate, size, rotation; VFR is fine)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument(
        "--meters-per-pixel",
        type=float,
        default=None,
        metavar="X",
        help="scale of the video (default: the picture's long side spans 0.34 m)",
    )
    p.add_argument(
        "--mass-kg", "--mass", type=float, default=None, metavar="KG",
        help="one mass for every object (default: density x apparent volume)",
    )  # fmt: skip
    p.add_argument(
        "--material",
        default=None,
        metavar="NAME",
        help=f"what the moving things are made of, for their density ({', '.join(DENSITY_KG_M3)}; "
        "default 1000 kg/m^3)",
    )
    p.add_argument(
        "--max-objects", type=int, default=DEFAULT_MAX_OBJECTS, metavar="N",
        help=f"keep at most N objects, the largest (default {DEFAULT_MAX_OBJECTS})",
    )  # fmt: skip
    p.add_argument(
        "--work-size", type=int, default=DEFAULT_WORK_SIZE, metavar="PX",
        help=f"long side of the masks in pixels (default {DEFAULT_WORK_SIZE})",
    )  # fmt: skip
    p.add_argument("--masks-out", metavar="NPZ", help="also write the masks [K, T, h, w] (.npz)")
    p.add_argument("--force", action="store_true", help="overwrite the --masks-out file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.meters_per_pixel is not None and not args.meters_per_pixel > 0:
        raise InputError("--meters-per-pixel must be > 0")
    if args.mass_kg is not None and not args.mass_kg > 0:
        raise InputError("--mass-kg must be > 0")
    if args.max_objects < 1:
        raise InputError("--max-objects must be >= 1")
    if args.work_size < 32:
        raise InputError("--work-size must be >= 32 pixels")
    ApparentVolumeMassEstimator(0, 0).density(args.material)  # an unknown material: exit 2
    if args.masks_out:
        check_output_path(args.masks_out, force=args.force)
    video, pixel_scale = read_work_video(args.video, args.work_size)
    if video.num_frames < 3:
        raise InputError(f"{args.video} has {video.num_frames} frames; need at least 3")
    objects = estimate_objects(
        video,
        meters_per_pixel=args.meters_per_pixel,
        pixel_scale=pixel_scale,
        mass_kg=args.mass_kg,
        material=args.material,
        segmenter=MotionSegmenter(max_objects=args.max_objects),
        work_size=args.work_size,
    )
    if not objects:
        print(f"physfoley physics: warning: nothing moves in {args.video}", file=sys.stderr)
    if args.masks_out:
        save_object_masks(args.masks_out, objects, video.times_s, force=args.force)
    width, height = video.width * pixel_scale, video.height * pixel_scale
    scale = args.meters_per_pixel or default_meters_per_pixel(width, height)
    doc = {
        "video": str(args.video),
        "fps": float(video.fps),
        "num_frames": int(video.num_frames),
        "width": round(width),
        "height": round(height),
        "meters_per_pixel": scale,
        "scale_source": "given" if args.meters_per_pixel else "default",
        "mask_size": [int(video.height), int(video.width)],
        "times_s": np.round(video.times_s, 6).tolist(),
        "objects": [o.to_dict() for o in objects],
    }
    if args.json:
        sys.stdout.write(jsondoc.dumps(doc) + "\n")
        return 0
    source = "given" if args.meters_per_pixel else "default scene scale"
    print(
        f"{args.video}: {len(objects)} moving objects ({video.num_frames} frames, "
        f"{video.fps:.3f} fps, {scale:.5f} m/px, {source})",
        file=sys.stderr,
    )
    for o in objects:
        seen = o.speed_m_s[np.isfinite(o.speed_m_s)]
        speeds = (
            f"speed median {np.median(seen):.2f} m/s, max {seen.max():.2f} m/s" if seen.size else ""
        )
        area = float(np.median(o.mask_area_px[o.present])) if o.present.any() else 0.0
        print(
            f"  object {o.id}: mass {o.mass_kg:.3g} kg ({o.mass_source}), seen in "
            f"{int(o.present.sum())} frames, median area {area:.0f} px, {speeds}",
            file=sys.stderr,
        )
    return 0
