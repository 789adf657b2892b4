"""The physical parameter estimator on SynthHits: is the striker found, its speed, its mass.

    .venv/bin/python benchmarks/eval_ppe.py [DATA] [--max-videos N] [--default-scale]
        [--material NAME|none] [--actions hit|scratch|all]

DATA is a SynthHits folder (default data/ppe_sh, made by
`physfoley data synth --out data/ppe_sh --videos 30 --seconds 10 --seed 77`). For every video
`physfoley.video.objects.estimate_objects` runs on the mp4 (with the true `meters_per_pixel`
of NAME_physics.json, or the default scene scale with --default-scale; material "wood", the
drumstick's, unless --material says otherwise), and every contact of NAME_physics.json is
scored:

- found: an object's mask at the contact frame lies within 3 px + half a frame's travel of the
  true striker tip (`striker_px`, 224-px picture); that object is the striker for the contact;
- speed: the striker object's speed arriving at the last frame at or before the contact time
  against the true `speed_before_m_s` (the speed *at* contact; the estimate is the mean over
  the frame interval before it, and a strike speeds up into the contact, so the ratio
  estimate / truth sits below 1 by construction: it is printed);
- mass: per video, the object found most often as the striker, against `striker.mass_kg`
  (log10 of estimate / truth), beside a constant guess (CONSTANT_MASS_KG) for reference.

SynthHits stores the striker's truth at its contacts only (not a per-frame trajectory), so
speeds are scored at contacts. Prints one JSON document (with n and the dataset's seed);
writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from physfoley.video.io import read_video  # noqa: E402
from physfoley.video.objects import estimate_objects  # noqa: E402

#: Size of the SynthHits picture (pixels); `striker_px` is in these pixels.
SYNTH_SIZE = 224
#: The reference a mass estimate must beat: one guess for every striker, the geometric middle
#: of the 0.03-0.2 kg that SynthHits draws striker masses from.
CONSTANT_MASS_KG = float(np.sqrt(0.03 * 0.2))
#: Distance (pixels) within which a mask counts as the striker, plus half a frame's travel.
FOUND_PX = 3.0


def mask_distance_px(mask: np.ndarray, x: float, y: float) -> float:
    """Distance (SynthHits pixels) from (x, y) to the nearest pixel of a working-size mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.inf
    s = SYNTH_SIZE / mask.shape[1]
    return float(np.min(np.hypot((xs + 0.5) * s - 0.5 - x, (ys + 0.5) * s - 0.5 - y)))


def score_video(folder: Path, name: str, *, default_scale: bool, material: str | None, actions):
    """Per-contact rows and the striker-mass pair of one video."""
    rec = json.loads((folder / f"{name}_physics.json").read_text())
    video = read_video(folder / f"{name}_denoised.mp4")
    mpp = rec["meters_per_pixel"]
    t0 = time.perf_counter()
    objects = estimate_objects(
        video, meters_per_pixel=None if default_scale else mpp, material=material
    )
    seconds = time.perf_counter() - t0
    fps = float(video.fps)
    rows, striker_ids = [], Counter()
    for hit in rec["hits"]:
        if actions != "all" and hit["action"] != actions:
            continue
        cf = hit["contact_frame"]
        sx, sy = hit["striker_px"]["x"], hit["striker_px"]["y"]
        travel = max(hit["speed_before_px_s"], hit["speed_after_px_s"]) / fps
        dist = [mask_distance_px(o.masks[cf], sx, sy) for o in objects]
        k = int(np.argmin(dist)) if dist else -1
        found = k >= 0 and dist[k] <= FOUND_PX + 0.5 * travel
        fb = int(np.searchsorted(video.times_s, hit["time_s"] + 1e-9) - 1)
        est = float(objects[k].speed_m_s[fb]) if found and fb >= 1 else np.nan
        if found:
            striker_ids[k] += 1
        rows.append({"found": found, "true": hit["speed_before_m_s"], "est": est})
    mass = None
    if striker_ids:
        k = striker_ids.most_common(1)[0][0]
        mass = (objects[k].mass_kg, rec["striker"]["mass_kg"])
    return rows, mass, len(objects), seconds, video.num_frames


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r (NaN for fewer than 3 pairs)."""
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 else float("nan")


def summary(rows, masses, n_objects, seconds, frames, seed, args) -> dict:
    found = np.array([r["found"] for r in rows], bool)
    true = np.array([r["true"] for r in rows])
    est = np.array([r["est"] for r in rows])
    ok = found & np.isfinite(est)
    err = est[ok] - true[ok]
    ratio = est[ok] / true[ok]
    m_est = np.array([m[0] for m in masses])
    m_true = np.array([m[1] for m in masses])
    log_err = np.log10(m_est / m_true) if len(masses) else np.array([])
    return {
        "data": str(args.data),
        "seed": seed,
        "videos": len(n_objects),
        "scale": "default scene scale" if args.default_scale else "true meters_per_pixel",
        "material": args.material,
        "contacts": args.actions,
        "n_contacts": int(len(rows)),
        "striker_found_rate": float(found.mean()) if len(rows) else float("nan"),
        "speed": {
            "n": int(ok.sum()),
            "median_abs_error_m_s": float(np.median(np.abs(err))) if ok.any() else None,
            "median_relative_error": float(np.median(np.abs(ratio - 1))) if ok.any() else None,
            "median_ratio_est_over_true": float(np.median(ratio)) if ok.any() else None,
            "pearson_r": corr(est[ok], true[ok]),
            "pearson_r_log": corr(np.log(est[ok] + 1e-3), np.log(true[ok])),
        },
        "striker_mass": {
            "n_videos": len(masses),
            "median_abs_log10_error": float(np.median(np.abs(log_err))) if len(masses) else None,
            "median_log10_ratio": float(np.median(log_err)) if len(masses) else None,
            "pearson_r_log": corr(np.log(m_est), np.log(m_true)),
            # a constant guess at the geometric middle of SynthHits' 0.03-0.2 kg strikers
            "constant_guess_median_abs_log10_error": (
                float(np.median(np.abs(np.log10(CONSTANT_MASS_KG / m_true))))
                if len(masses)
                else None
            ),
        },
        "objects_per_video_mean": float(np.mean(n_objects)),
        "seconds_per_video_mean": float(np.mean(seconds)),
        "frames_per_second": float(np.sum(frames) / max(np.sum(seconds), 1e-9)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, nargs="?", default=Path("data/ppe_sh"))
    ap.add_argument("--max-videos", type=int, default=None)
    ap.add_argument("--default-scale", action="store_true", help="ignore the true scale")
    ap.add_argument("--material", default="wood", help="objects' material, or 'none'")
    ap.add_argument("--actions", choices=("hit", "scratch", "all"), default="hit")
    args = ap.parse_args()
    material = None if args.material == "none" else args.material
    manifest = json.loads((args.data / "synthhits.json").read_text())
    names = sorted(p.name[: -len("_physics.json")] for p in args.data.glob("*_physics.json"))
    names = names[: args.max_videos]
    rows, masses, n_objects, seconds, frames = [], [], [], [], []
    for name in names:
        r, m, n, s, f = score_video(
            args.data, name, default_scale=args.default_scale, material=material,
            actions=args.actions,
        )  # fmt: skip
        rows += r
        masses += [m] if m else []
        n_objects.append(n)
        seconds.append(s)
        frames.append(f)
        print(f"{name}: {n} objects, {sum(x['found'] for x in r)}/{len(r)} found", file=sys.stderr)
    doc = summary(rows, masses, n_objects, seconds, frames, manifest.get("seed"), args)
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
