"""`physfoley synthesize --model diff-foley|pavas|DIR`: a whole soundtrack (diff-foley or pavas).

Called by `physfoley synthesize` once the model directory says its family is "diff-foley"
(`physfoley.families.load_pipeline`). The options that apply: --steps, --sampler, --seed,
--guidance S (classifier-free guidance, the paper's omega = S - 1), --cg-scale (the alignment
classifier's gamma, eq. 8), --json (with the soundtrack's detected onsets), --force, --device,
--threads, --video-out, and for pavas models --mass-scale and --speed-scale. Any other option
the user set is refused with one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from physfoley import jsondoc
from physfoley.errors import InputError
from physfoley.families import sampling_options
from physfoley.outputs import soundtrack_json, write_soundtrack
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.soundtrack_pipeline import SoundtrackPipeline

#: `physfoley synthesize` options a diff-foley model uses (the rest are per-impact only).
APPLIES = {
    "video", "out", "video_out", "model", "steps", "sampler", "seed", "guidance", "cg_scale",
    "device", "threads", "json", "force", "original_audio", "original_gain_db",
}  # fmt: skip


#: A pavas model also takes the what-if edits of the physics it is conditioned on.
PAVAS_APPLIES = APPLIES | {"mass_scale", "speed_scale", "physics_scale"}


def refuse_inapplicable(
    args: argparse.Namespace, default_of: Callable[[str], object], applies: set = APPLIES
) -> None:
    """InputError naming the first option set away from its default that a diff-foley model
    cannot use (e.g. --times: the soundtrack's timing comes from the picture)."""
    for name, value in sorted(vars(args).items()):
        if name in applies or name in ("func", "default_of", "command") or callable(value):
            continue
        if value is not None and value is not False and value != default_of(name):
            flag = "--" + name.replace("_", "-")
            raise InputError(
                f"{flag} does not apply to a diff-foley (whole-soundtrack) model; drop it or "
                "pass a per-impact --model"
            )


def run_soundtrack(
    args: argparse.Namespace, pipe: SoundtrackPipeline, audio_out: Path, video_out: Path | None
) -> int:
    """Generate, write (and mux) the soundtrack of args.video; print JSON or a summary."""
    options = sampling_options(pipe, steps=args.steps, sampler=args.sampler,
                               guidance=args.guidance, cg_scale=args.cg_scale)  # fmt: skip
    if isinstance(pipe, PavasPipeline):
        options["mass_scale"] = 1.0 if args.mass_scale is None else args.mass_scale
        options["speed_scale"] = 1.0 if args.speed_scale is None else args.speed_scale
        if args.physics_scale is not None:
            options["physics_scale"] = args.physics_scale
    result = pipe.synthesize(args.video, seed=0 if args.seed is None else args.seed, **options)
    if isinstance(pipe, PavasPipeline) and not result.settings.get("objects"):
        print("physfoley synthesize: warning: no moving object found in the picture; the "
              "soundtrack is conditioned on null physics tokens", file=sys.stderr)  # fmt: skip
    write_soundtrack(
        result.wave,
        result.sample_rate,
        audio_out,
        video=args.video,
        video_out=video_out,
        force=args.force,
        original_audio=args.original_audio,
        original_gain_db=args.original_gain_db,
    )
    doc = {**soundtrack_json(result), "family": pipe.family}
    if args.json:
        video = str(video_out) if video_out is not None else None
        print(jsondoc.dumps({"audio": str(audio_out), "video": video, **doc}))
    else:
        print(
            f"{len(doc['onsets'])} onsets in a {result.duration_s:.2f} s soundtrack "
            f"({doc['windows']} windows, {doc['sampler']} x {doc['steps']} steps, "
            f"cfg {doc['cfg_scale']:g}, cg {doc['cg_scale']:g})",
            file=sys.stderr,
        )
        print(f"wrote {audio_out}" + (f" and {video_out}" if video_out else ""), file=sys.stderr)
    return 0
