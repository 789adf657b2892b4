"""Do generated impacts obey the hit? APCC, level vs kinetic energy, and tails, on SynthHits.

    physfoley data synth --out data/sh_phys_test --videos 20 --seconds 10 --seed 515
    .venv/bin/python benchmarks/eval_physics_sound.py --data data/sh_phys_test --out runs/phys_sound

For each video of the split and each configuration (--configs, default all):
  before    loudness="model", tails off        (the pipeline before issue 15); before_detector:
            the same at the default detector's times
  head      loudness="physics", tails from the generated head's own analysis
  neighbour loudness="physics", tails from the retrieved neighbour's physics (the default)
  detector  as `neighbour`, but the impact times are the detector's (the default optical-flow
            detector), not the true ones; detector_tip: the tip tracker's
the soundtrack is synthesized (shipped model, seed 0) at the times of NAME_times.txt (hits and
scratches) and written to OUT/CONFIG/NAME.wav. Figures, over the "hit" actions of
NAME_physics.json: APCC-Delta (`apcc_of_folder`); the pooled Pearson r between the peak level
(dB) of the first 30 ms after each hit and log kinetic-energy change, generated and recorded;
for hits on metal, glass and ceramic with no other event within 0.6 s, the median level of
0.30-0.60 s after the hit relative to its first 0.25 s, generated and recorded, per material;
and the wall and CPU time of each synthesize call (decoded frames in, soundtrack out; with one
thread, CPU time is the wall time a quiet machine would take). Prints one table; --json for a document.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from physfoley.audio.io import load_audio, write_audio  # noqa: E402
from physfoley.audio.loudness import PEAK_WINDOW_S  # noqa: E402
from physfoley.audio.tails import tail_level_db  # noqa: E402
from physfoley.evaluation.soundtracks import apcc_of_folder, read_times_file  # noqa: E402
from physfoley.pipeline import ImpactPipeline, decode_video  # noqa: E402

CONFIGS = {
    "before": dict(loudness="model", tails=False),
    "before_detector": dict(loudness="model", tails=False),
    "head": dict(loudness="physics", tails=True, tail_source="head"),
    "neighbour": dict(loudness="physics", tails=True, tail_source="neighbour"),
    "detector": dict(loudness="physics", tails=True, tail_source="neighbour"),
    "detector_tip": dict(loudness="physics", tails=True, tail_source="neighbour", detector="tip"),
}
RINGING = ("metal", "glass", "ceramic")
ISOLATION_S = 0.6
#: A generated impact this close to a true hit is that hit's sound.
MATCH_S = 0.05
#: The peak window also measured from this long before each hit (detectors' timing error).
EARLY_S = 0.015


def peak_db(
    wave: np.ndarray, sr: int, times_s: np.ndarray, window_s: float = PEAK_WINDOW_S
) -> np.ndarray:
    """dBFS of the peak over the first `window_s` after each time: [E]."""
    n = int(round(window_s * sr))
    start = np.round(np.asarray(times_s) * sr).astype(np.int64)
    idx = np.clip(start[:, None] + np.arange(n)[None, :], 0, wave.size - 1)
    return 20 * np.log10(np.maximum(np.abs(wave[idx]).max(axis=1), 1e-9))


def hits_of(data: Path, name: str) -> dict[str, np.ndarray]:
    """The split's truth for one video: hit times, energies, materials, isolation."""
    doc = json.loads((data / f"{name}_physics.json").read_text())
    hits = [h for h in doc["hits"] if h["action"] == "hit"]
    all_times = read_times_file(data / f"{name}_times.txt")
    times = np.asarray([h["time_s"] for h in hits])
    gap = np.abs(all_times[None, :] - times[:, None])
    gap[gap < 1e-3] = np.inf  # the hit itself
    return {
        "times": times,
        "energy": np.asarray([h["kinetic_energy_change_j"] for h in hits]),
        "material": np.asarray([h["material"] for h in hits]),
        "isolated": gap.min(axis=1, initial=np.inf) > ISOLATION_S,
        "all_times": all_times,
    }


def evaluate(pipe, data: Path, out: Path, config: str, names: list[str], seed: int) -> dict:
    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    gen_db, rec_db, energy, mats, gen_tail, rec_tail = ([] for _ in range(6))
    walls, cpus, found, offsets, gen_db_early = ([] for _ in range(5))
    for name in names:
        truth = hits_of(data, name)
        frames = decode_video(data / f"{name}_denoised.mp4")
        kw = dict(CONFIGS[config])
        times = None if "detector" in config else truth["all_times"]
        t0, c0 = time.perf_counter(), time.process_time()
        result = pipe.synthesize(frames, times=times, seed=seed, **kw)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        write_audio(folder / f"{name}.wav", result.audio, result.sample_rate, force=True)
        rec, sr = load_audio(data / f"{name}_denoised.wav", sample_rate=result.sample_rate)
        gen_db.append(peak_db(result.audio, sr, truth["times"]))
        early = truth["times"] - EARLY_S  # a detector may place the onset a few ms early
        gen_db_early.append(peak_db(result.audio, sr, early, PEAK_WINDOW_S + EARLY_S))
        rec_db.append(peak_db(rec, sr, truth["times"]))
        energy.append(truth["energy"])
        placed = np.asarray([imp.time_s for imp in result.impacts])
        gap = np.abs(placed[None, :] - truth["times"][:, None]) if placed.size else None
        offsets.append(gap.min(axis=1) if gap is not None else np.full(truth["times"].size, np.inf))
        found.append(
            gap.min(axis=1) <= MATCH_S if gap is not None else np.zeros(truth["times"].size, bool)
        )
        mats.append(truth["material"])
        keep = truth["isolated"] & np.isin(truth["material"], RINGING)
        gen_tail.append(np.where(keep, tail_level_db(result.audio, sr, truth["times"]), np.nan))
        rec_tail.append(np.where(keep, tail_level_db(rec, sr, truth["times"]), np.nan))
    gen_db, rec_db, energy = map(np.concatenate, (gen_db, rec_db, energy))
    mats, gen_tail, rec_tail, found = map(np.concatenate, (mats, gen_tail, rec_tail, found))
    offsets, gen_db_early = np.concatenate(offsets), np.concatenate(gen_db_early)
    ok = energy > 0
    log_e = np.log(energy[ok])
    doc = apcc_of_folder(folder, data, sample_rate=22050)
    doc["pearson_peak_vs_log_energy_generated"] = float(np.corrcoef(gen_db[ok], log_e)[0, 1])
    doc["pearson_peak_vs_log_energy_recorded"] = float(np.corrcoef(rec_db[ok], log_e)[0, 1])
    # over the hits that got a sound within MATCH_S (all of them at the true times)
    hit = ok & found
    doc["pearson_peak_from_15_ms_before_generated_found"] = float(
        np.corrcoef(gen_db_early[hit], np.log(energy[hit]))[0, 1]
    )
    doc["hits_with_a_sound"] = int(found.sum())
    doc["timing_error_ms_median"] = float(1000 * np.median(offsets[found])) if found.any() else None
    doc["hits_timed_within_10_ms"] = int((offsets <= 0.01).sum())
    doc["pearson_peak_vs_log_energy_generated_found"] = float(
        np.corrcoef(gen_db[hit], np.log(energy[hit]))[0, 1]
    )
    tails = {}
    for m in RINGING:
        sel = (mats == m) & np.isfinite(gen_tail) & np.isfinite(rec_tail)
        if sel.any():
            tails[m] = {
                "hits": int(sel.sum()),
                "generated_db": float(np.median(gen_tail[sel])),
                "recorded_db": float(np.median(rec_tail[sel])),
            }
    doc["tails"] = tails
    doc["synthesize_s_median"] = float(np.median(walls))
    doc["synthesize_s_max"] = float(np.max(walls))
    doc["synthesize_cpu_s_median"] = float(np.median(cpus))
    doc["synthesize_cpu_s_max"] = float(np.max(cpus))
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/sh_phys_test", help="SynthHits test split")
    ap.add_argument("--out", default="runs/phys_sound", help="folder for the soundtracks")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    ap.add_argument("--max-videos", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data, out = Path(args.data), Path(args.out)
    names = sorted(p.name.removesuffix("_physics.json") for p in data.glob("*_physics.json"))
    names = names[: args.max_videos]
    pipe = ImpactPipeline.from_pretrained()
    report = {}
    for config in args.configs.split(","):
        report[config] = evaluate(pipe, data, out, config, names, args.seed)
        if not args.json:
            d = report[config]
            tails = ", ".join(
                f"{m} {t['generated_db']:.1f} vs {t['recorded_db']:.1f} dB ({t['hits']})"
                for m, t in d["tails"].items()
            )
            print(
                f"{config:9s} hits {d['num_hits']}  APCC gen {d['apcc_generated']:.3f} "
                f"ref {d['apcc_reference']:.3f} delta {d['apcc_delta']:.3f}  "
                f"r(peak, log E) gen {d['pearson_peak_vs_log_energy_generated']:.3f} "
                f"rec {d['pearson_peak_vs_log_energy_recorded']:.3f}; over the "
                f"{d['hits_with_a_sound']} hits with a sound gen "
                f"{d['pearson_peak_vs_log_energy_generated_found']:.3f}, window from 15 ms "
                f"before {d['pearson_peak_from_15_ms_before_generated_found']:.3f} "
                "(median timing error "
                f"{d['timing_error_ms_median']:.1f} ms, {d['hits_timed_within_10_ms']} within "
                "10 ms)  "
                f"synth {d['synthesize_s_median']:.1f} s (max {d['synthesize_s_max']:.1f}; CPU "
                f"{d['synthesize_cpu_s_median']:.1f} s, max {d['synthesize_cpu_s_max']:.1f})  "
                f"tails: {tails}",
                flush=True,
            )
    if args.json:
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
