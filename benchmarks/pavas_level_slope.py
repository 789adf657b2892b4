"""How much absolute loudness a soundtrack model can learn from SynthHits: the slope of each
hit's peak level against its impulse, in the audio the soundtrack family trains on.

For every video of a SynthHits folder: the recorded soundtrack at the level `physfoley data
segments --level` stores (peak: scaled to a 0.9 peak; recorded: SynthHits' random gain undone), and at each "hit" of NAME_physics.json its peak level
(`evaluation.whatif.peak_levels_db`, -30 to +100 ms) and 20 log10 of its impulse
J = m (v_before + v_after). Prints the least-squares slope of level on 20 log10 J (dB per dB)
pooled over all videos, and the mean slope within videos (each video's own fit). Physics says
1 (amplitude ∝ J): a what-if edit of the speed by k should move each hit by 20 log10 k dB. A
model fitted to these data learns the pooled slope for an edit that scales every hit of a
video alike. Asserts nothing.

Run: python benchmarks/pavas_level_slope.py data/sh_train [--level recorded]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from physfoley.audio.io import load_audio
from physfoley.data.segments import LEVELS, training_level
from physfoley.evaluation.whatif import peak_levels_db

RATE = 16000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", help="SynthHits folder (NAME_denoised.wav + NAME_physics.json)")
    p.add_argument("--max-videos", type=int)
    p.add_argument(
        "--level",
        choices=LEVELS,
        default="peak",
        help="the level the soundtrack family trains on (`data segments --level`)",
    )
    args = p.parse_args()
    files = sorted(Path(args.folder).glob("*_physics.json"))[: args.max_videos]
    levels, impulses, within = [], [], []
    for f in files:
        hits = [h for h in json.loads(f.read_text())["hits"] if h["action"] == "hit"]
        if len(hits) < 3:
            continue
        wave, _ = load_audio(f.with_name(f.name.replace("_physics.json", "_denoised.wav")),
                             sample_rate=RATE)  # fmt: skip
        wave = training_level(wave, json.loads(f.read_text()), args.level)
        times = np.array([h["time_s"] for h in hits])
        j = np.array([h["striker_mass_kg"] * (h["speed_before_m_s"] + h["speed_after_m_s"])
                      for h in hits])  # fmt: skip
        lv, lj = peak_levels_db(wave, RATE, times), 20 * np.log10(np.maximum(j, 1e-9))
        levels.append(lv)
        impulses.append(lj)
        if np.ptp(lj) > 1.0:
            within.append(np.polyfit(lj, lv, 1)[0])
    lv, lj = np.concatenate(levels), np.concatenate(impulses)
    pooled = np.polyfit(lj, lv, 1)[0]
    print(f"{len(levels)} videos, {lv.size} hits: pooled slope {pooled:.2f} dB/dB "
          f"(r {np.corrcoef(lj, lv)[0, 1]:.2f}); within a video {np.mean(within):.2f} ± "
          f"{np.std(within):.2f} over {len(within)} videos; physics: 1.00")  # fmt: skip
    print(
        f"so a x2 speed edit of a whole video is worth {20 * np.log10(2) * pooled:+.1f} dB to a "
        f"model fitted to these data (physics {20 * np.log10(2):+.1f} dB)"
    )


if __name__ == "__main__":
    main()
