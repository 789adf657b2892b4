"""One SynthHits video -> Greatest Hits layout files; a whole dataset in parallel, per-seed deterministic.

`generate_video` runs five steps, each in its own module, on one random generator drawn from
in a fixed order:
1. scene (`scene.make_scene`): scale (meters per pixel), 1-3 objects of different materials
   in slots on a table, the striker, the static picture;
2. events (`events.plan_events`): every 0.5-1.5 s the striker hits (or scratches) one object
   at a point on its top edge with a speed; rattles are chosen per hit;
3. soundtrack (`soundtrack.make_soundtrack`): each event's dry sound from its physics; a hit
   masked by the ringing of earlier ones is struck harder (up to 3 times, then dropped) so
   every annotated hit is audible; then room reverberation, background noise at a drawn SNR,
   one gain;
4. picture (`picture.make_picture`): the striker's tip follows a trajectory through each
   contact point at its contact time (descent at speed_before, rebound at speed_after),
   frames drawn by `render`;
5. files (`record`): NAME_denoised.wav, NAME_times.txt, NAME_denoised.mp4, NAME_physics.json
   (last: its presence marks a finished video).
`generate_dataset` writes many videos, one generator seeded with (seed, index) each.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from physfoley.atomic import write_text_atomic
from physfoley.data.synthhits.events import plan_events
from physfoley.data.synthhits.materials import MATERIAL_TABLE, MATERIALS
from physfoley.data.synthhits.picture import make_picture
from physfoley.data.synthhits.record import physics_record, write_files
from physfoley.data.synthhits.scene import make_scene
from physfoley.data.synthhits.soundtrack import make_soundtrack
from physfoley.data.synthhits.spec import FORMAT_VERSION, SAMPLE_RATE
from physfoley.errors import InputError
from physfoley.numba_cache import warm

MIN_SECONDS = 1.5


def video_name(seed: int, index: int) -> str:
    """File stem of video `index` of the dataset made with `seed`."""
    return f"synth_s{seed}_{index:05d}"


def generate_video(
    out_dir: str | os.PathLike,
    name: str,
    seed: int | Sequence[int],
    seconds: float = 10.0,
    *,
    force: bool = False,
    mp4_audio: bool = True,
    preset: str = "ultrafast",
    materials: Sequence[str] | None = None,
    primary_material: str | None = None,
    backswing_prob: float = 0.0,
) -> dict:
    """Write one SynthHits video in the Greatest Hits layout and return its physics record.

    materials : the objects' materials (1-3 names of `MATERIALS`); drawn at random when None.
    primary_material : when materials is None, the first object's material (the others and
        their number stay random); datasets use it to balance the classes.
    mp4_audio : also put the soundtrack in the mp4 (AAC), as the real dataset's files have.
    backswing_prob : probability (0-1) that a hit's descent is preceded by a back-swing (the
        tip rises fast, stops at once at the descent's start, holds 0-2 frames); drawn from a
        generator of its own, so the sound and every other draw are those of backswing_prob=0
        and only the picture changes. Hits that got one have a `backswing` key in the record.

    Files: NAME_denoised.mp4 (224x224, 30000/1001 fps, H.264), NAME_denoised.wav (44.1 kHz
    mono PCM16), NAME_times.txt, NAME_physics.json. The same seed gives the same wav, txt and
    json bytes. Raises InputError for a missing folder or (without force) existing files.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"output folder {out_dir} does not exist; create it first")
    if seconds < MIN_SECONDS:
        raise InputError(f"seconds must be >= {MIN_SECONDS} (got {seconds})")
    if primary_material is not None and primary_material not in MATERIAL_TABLE:
        raise InputError(
            f"unknown material {primary_material!r}; choose one of {', '.join(MATERIALS)}"
        )
    if not 0.0 <= backswing_prob <= 1.0:
        raise InputError(f"backswing probability must be in [0, 1] (got {backswing_prob})")
    if materials is not None:
        bad = [m for m in materials if m not in MATERIAL_TABLE]
        if bad or not 1 <= len(materials) <= 3:
            raise InputError(
                f"materials must be 1-3 of {', '.join(MATERIALS)} (got {', '.join(materials)})"
            )
    rng = np.random.default_rng(seed)
    stage = make_scene(rng, materials=materials, primary_material=primary_material)
    events = plan_events(rng, seconds, stage.objects, stage.scene, stage.meters_per_pixel)
    track = make_soundtrack(rng, events, stage.objects, stage.striker, seconds, SAMPLE_RATE)
    picture = make_picture(rng, stage, events, seconds, seed=seed, backswing_prob=backswing_prob)
    record = physics_record(name, seed, stage, events, track, picture)
    write_files(
        out_dir, name, record, track, picture, force=force, mp4_audio=mp4_audio, preset=preset
    )
    return record


def _one(job):
    out_dir, name, seed, seconds, force, kw = job
    if not force and (Path(out_dir) / f"{name}_physics.json").exists():
        return name, "skipped"
    # no finished record: files of a crashed earlier run may be there; replace them
    generate_video(out_dir, name, seed, seconds, force=True, **kw)
    return name, "made"


def generate_dataset(
    out_dir: str | os.PathLike,
    videos: int = 100,
    seconds: float = 10.0,
    seed: int = 0,
    workers: int = 1,
    *,
    force: bool = False,
    on_video: Callable[[str, str], None] | None = None,
    backswing_prob: float = 0.0,
    **video_kwargs,
) -> dict:
    """Generate `videos` SynthHits videos into out_dir (created if missing), in parallel.

    Video i uses the generator seeded with (seed, i) and has an object of material
    MATERIALS[(seed + i) % 10] (classes balanced), so any subset can be regenerated alone and
    the result does not depend on `workers`. Resumable: a video whose NAME_physics.json
    exists is skipped unless `force`. on_video(name, "made"|"skipped") is called as each ends.
    backswing_prob : see `generate_video` (recorded in synthhits.json when > 0).
    Writes synthhits.json (the settings) and returns it with counts.
    """
    if videos < 1:
        raise InputError(f"--videos must be >= 1 (got {videos})")
    if not 0.0 <= backswing_prob <= 1.0:
        raise InputError(f"--backswing must be in [0, 1] (got {backswing_prob})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"format": "synthhits", "version": FORMAT_VERSION, "seed": seed, "seconds": seconds}
    if backswing_prob > 0:  # absent at 0, so the manifests of existing datasets stay valid
        settings["backswing_prob"] = backswing_prob
    manifest = out_dir / "synthhits.json"
    if manifest.exists() and not force:
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in settings} != settings or old.get(
            "backswing_prob", 0.0
        ) != settings.get("backswing_prob", 0.0):
            raise InputError(
                f"{out_dir} holds a SynthHits dataset made with other settings ({manifest}); "
                "use another --out or pass --force"
            )
    names = [video_name(seed, i) for i in range(videos)]
    jobs = [
        (
            str(out_dir),
            nm,
            [seed, i],
            seconds,
            force,
            {
                "primary_material": MATERIALS[(seed + i) % len(MATERIALS)],
                **({"backswing_prob": backswing_prob} if backswing_prob > 0 else {}),
                **video_kwargs,
            },
        )
        for i, nm in enumerate(names)
    ]
    counts = {"made": 0, "skipped": 0}
    if workers <= 1:
        results = map(_one, jobs)
        for nm, status in results:
            counts[status] += 1
            if on_video:
                on_video(nm, status)
    else:
        warm()  # numba's cache is unsafe for concurrent first compiles
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for nm, status in pool.imap_unordered(_one, jobs):
                counts[status] += 1
                if on_video:
                    on_video(nm, status)
    all_names = sorted(
        set(names)
        | set(json.loads(manifest.read_text()).get("names", []) if manifest.exists() else set())
    )
    doc = {**settings, "videos": len(all_names), "names": all_names}
    write_text_atomic(manifest, json.dumps(doc, indent=1) + "\n", force=True)
    return {**doc, **counts}
