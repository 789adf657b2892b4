"""Calibrate the impact level law (physfoley.audio.loudness) on a SynthHits training split.

    .venv/bin/python benchmarks/calibrate_loudness.py --data data/sh_phys_train

made by `physfoley data synth --out data/sh_phys_train --videos 20 --seconds 10 --seed 516`
(a seed no test split uses). For every "hit" of every NAME_physics.json: the striker's speeds
measured in the picture at the true time (`impacts_at`, the pipeline's measure, with its
assumed scale and striker mass), the impulse m (vb + va) they give, and the recorded peak
level (dBFS) of NAME_denoised.wav over the first 30 ms after the hit. Fits
peak_db = ref_db + exponent * 20 log10(J / REF_IMPULSE_N_S) by least squares and prints it
with the correlation of the measured impulse with the true one. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from physfoley.audio import loudness as law  # noqa: E402
from physfoley.audio.io import load_audio  # noqa: E402
from physfoley.pipeline import decode_video  # noqa: E402
from physfoley.video.speeds import impacts_at  # noqa: E402


def recorded_peak_db(wave: np.ndarray, sr: int, times_s: np.ndarray) -> np.ndarray:
    """dBFS of the peak over the first PEAK_WINDOW_S after each time: [E]."""
    n = int(round(law.PEAK_WINDOW_S * sr))
    start = np.round(np.asarray(times_s) * sr).astype(np.int64)
    idx = np.clip(start[:, None] + np.arange(n)[None, :], 0, wave.size - 1)
    return 20 * np.log10(np.maximum(np.abs(wave[idx]).max(axis=1), 1e-9))


def measured_hits(data: Path, max_videos: int | None = None) -> dict[str, np.ndarray]:
    """Per hit of the split: measured impulse, true impulse, recorded peak dB, video index."""
    rows: dict[str, list] = {"impulse": [], "true_impulse": [], "peak_db": [], "video": []}
    for v, phys in enumerate(sorted(data.glob("*_physics.json"))[:max_videos]):
        name = phys.name.removesuffix("_physics.json")
        hits = [h for h in json.loads(phys.read_text())["hits"] if h["action"] == "hit"]
        if not hits:
            continue
        times = np.asarray([h["time_s"] for h in hits])
        frames = decode_video(data / f"{name}_denoised.mp4")
        scale = law.SCENE_LONG_SIDE_M / max(frames.width, frames.height)
        events = impacts_at(frames, times, meters_per_pixel=scale)
        vb = np.asarray([e.speed_before_m_s for e in events])
        va = np.asarray([e.speed_after_m_s for e in events])
        wave, sr = load_audio(data / f"{name}_denoised.wav")
        rows["impulse"] += law.impulse_n_s(law.STRIKER_MASS_KG, vb, va).tolist()
        rows["true_impulse"] += [h["impulse_n_s"] for h in hits]
        rows["peak_db"] += recorded_peak_db(wave, sr, times).tolist()
        rows["video"] += [v] * len(hits)
    return {k: np.asarray(v) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/sh_phys_train", help="SynthHits training split")
    ap.add_argument("--max-videos", type=int)
    args = ap.parse_args()
    rows = measured_hits(Path(args.data), args.max_videos)
    j = np.maximum(rows["impulse"], 0.05 * law.REF_IMPULSE_N_S)
    x = 20 * np.log10(j / law.REF_IMPULSE_N_S)
    exponent, ref_db = np.polyfit(x, rows["peak_db"], 1)
    r_j = np.corrcoef(np.log(j), np.log(rows["true_impulse"]))[0, 1]
    r_peak = np.corrcoef(x, rows["peak_db"])[0, 1]
    print(f"hits: {j.size} in {len(np.unique(rows['video']))} videos")
    print(f"log measured impulse vs log true impulse: r = {r_j:.3f}")
    print(f"recorded peak dB vs 20 log10 measured impulse: r = {r_peak:.3f}")
    print(f"fit: LEVEL_REF_DB = {ref_db:.2f}, LEVEL_EXPONENT = {exponent:.3f}")
    print(
        f"recorded peak dB: median {np.median(rows['peak_db']):.1f}, max {rows['peak_db'].max():.1f}"
    )


if __name__ == "__main__":
    main()
