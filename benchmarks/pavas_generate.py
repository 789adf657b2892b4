"""Soundtracks of every SynthHits video of a folder by a pavas model, for `physfoley eval apcc`
and `physfoley eval level-change`: the model is loaded once, and the physics is the
estimator's (`--physics ppe`, what `physfoley synthesize` uses) or SynthHits' truth
(`--physics truth`: one object, the striker, with its recorded mass and the velocity rebuilt
from the hits as in training; its mask is the whole frame). Writes OUT/NAME.wav; prints one
line per video.

Run: .venv/bin/python benchmarks/pavas_generate.py --model DIR --videos data/synthhits_test \
        --out runs/pavas/gen [--physics ppe|truth] [--mass-scale 1] [--speed-scale 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from physfoley.audio.io import write_audio
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.training.pavas import truth_velocity
from physfoley.video.io import read_video
from physfoley.video.objects import PhysicalObject


def truth_objects(physics_json: Path, video: Path, ramp_s: float = 0.15) -> list[PhysicalObject]:
    """The striker as one PhysicalObject on the video's decoded frames (SynthHits truth)."""
    doc = json.loads(physics_json.read_text())
    keys = ("time_s", "striker_mass_kg", "speed_before_m_s", "speed_after_m_s")
    hits = [[float(h[k]) for k in keys] for h in doc["hits"]]
    if not hits:
        return []
    frames = read_video(video, size=32)
    times = np.asarray(frames.times_s)
    fps = len(times) / max(frames.duration_s, 1e-6)
    vel = truth_velocity(hits, times[0] - 0.5 / fps, len(times), fps, ramp_s).astype(np.float64)
    n = len(times)
    return [
        PhysicalObject(
            id=0, mass_kg=float(doc["striker"]["mass_kg"]), velocity_m_s=vel,
            speed_m_s=np.linalg.norm(vel, axis=1), mask_area_px=np.ones(n),
            centroid_px=np.zeros((n, 2)), present=np.ones(n, bool),
            masks=np.ones((n, 8, 8), np.uint8), mass_source="given",
        )
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--videos", required=True, help="SynthHits folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--physics", choices=("ppe", "truth"), default="ppe")
    ap.add_argument("--mass-scale", type=float, default=1.0)
    ap.add_argument("--speed-scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-videos", type=int)
    args = ap.parse_args()
    pipe = PavasPipeline.from_pretrained(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    videos = sorted(Path(args.videos).glob("*_denoised.mp4"))[: args.max_videos]
    for video in videos:
        name = video.name.removesuffix("_denoised.mp4")
        objects = None
        if args.physics == "truth":
            objects = truth_objects(Path(args.videos) / f"{name}_physics.json", video)
        r = pipe.synthesize(video, objects=objects, mass_scale=args.mass_scale,
                            speed_scale=args.speed_scale, seed=args.seed)  # fmt: skip
        write_audio(out / f"{name}.wav", r.wave, r.sample_rate, force=True)
        print(f"{name}: {r.settings['objects']} objects, {r.timings_s['total']:.1f} s")


if __name__ == "__main__":
    main()
