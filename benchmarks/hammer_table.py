"""Modal resynthesis quality on real hammer recordings (DiffImpact): prints a markdown table.

For the first strike of each recording in ../shared/data/diffimpact-hammer (found by onset
detection), the multi-resolution STFT distance (auraloss defaults) between the peak-normalised
0.25 s clip and its resynthesis from: the `reference` analysis, the `default` analysis (both
physics only), and the `default` analysis plus the fitted residual. Lower is better.

Run: .venv/bin/python benchmarks/hammer_table.py [--data DIR] [--steps N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from physfoley.audio.analysis import analyze
from physfoley.audio.io import load_audio
from physfoley.audio.losses import mrstft_loss
from physfoley.audio.onsets import cut_clip
from physfoley.audio.spectrogram import fit_length, magnitude, peak_normalize
from physfoley.audio.synthesis import resynthesize
from physfoley.config import get_preset

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "diffimpact-hammer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA,
        help="folder of .wav recordings (default: ../shared/data/diffimpact-hammer beside the checkout)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=60, help="residual fit steps")
    parser.add_argument("--preset", default="paper")
    args = parser.parse_args()
    cfg = get_preset(args.preset)
    files = sorted(args.data.glob("*.wav"))
    if not files:
        raise SystemExit(f"no .wav files in {args.data}")
    names, clips = [], []
    for path in files:
        wave, sr = load_audio(path, cfg.sample_rate)
        clip, _ = cut_clip(wave, sr, cfg.num_samples, which="first")
        clip = np.pad(clip, (0, cfg.num_samples - clip.size))
        names.append(path.stem)
        clips.append(clip / np.abs(clip).max())
    batch = np.stack(clips).astype(np.float32)
    target = torch.from_numpy(batch)

    def distance(resynth: np.ndarray) -> list[float]:
        pred = torch.from_numpy(resynth)
        return [float(mrstft_loss(pred[i : i + 1], target[i : i + 1])) for i in range(len(names))]

    ref = analyze(batch, cfg.sample_rate, preset=cfg, method="reference")
    default = analyze(batch, cfg.sample_rate, preset=cfg, method="default")
    start = time.perf_counter()
    fitted = analyze(batch, cfg.sample_rate, preset=cfg, residual=True, residual_steps=args.steps)
    fit_s = time.perf_counter() - start
    cols = {
        "reference (physics only)": distance(resynthesize(ref, residual=False)),
        "default (physics only)": distance(resynthesize(default, residual=False)),
        "default + fitted residual": distance(resynthesize(fitted)),
    }
    print(f"MR-STFT distance (auraloss defaults), preset {cfg.name}, first strike, lower is better")
    print()
    print("| recording | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for i, name in enumerate(names):
        print(f"| {name} | " + " | ".join(f"{cols[c][i]:.3f}" for c in cols) + " |")
    print("| **mean** | " + " | ".join(f"**{np.mean(cols[c]):.3f}**" for c in cols) + " |")
    print()
    print(
        f"residual fit: {args.steps} Adam steps, {len(names)} clips batched, {fit_s:.1f} s "
        f"({torch.get_num_threads()} torch threads)"
    )
    # Headroom of the log-spectrogram scaling: loudest ln|STFT| of these peak-normalised clips.
    print()
    for name in ("paper", "small"):
        preset = get_preset(name)
        loudest = []
        for path in files:
            wave, sr = load_audio(path, preset.sample_rate)
            clip = torch.from_numpy(cut_clip(wave, sr, preset.num_samples, which="first")[0])
            clip = peak_normalize(fit_length(clip[None], preset.num_samples))
            loudest.append(float(torch.log(magnitude(clip, preset).max())))
        print(
            f"max ln|STFT| preset {name}: {max(loudest):.2f} (clips {min(loudest):.2f}-"
            f"{max(loudest):.2f}); log_mag_max {preset.log_mag_max:.3f}"
        )


if __name__ == "__main__":
    main()
