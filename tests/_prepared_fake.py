"""A tiny synthetic prepared dataset (the `physfoley data prepare` format) for model tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from physfoley.config import get_preset
from physfoley.data.datasets import INDEX_COLUMNS
from physfoley.materials import MATERIALS


def make_prepared(
    root: Path, *, n: int = 24, preset: str = "small", image_size: int = 32, seed: int = 0
) -> Path:
    """Write `n` clips: decaying sinusoids whose pitch and frame colour depend on the material."""
    audio = get_preset(preset)
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    k, s = audio.num_freqs, image_size
    material = np.arange(n) % len(MATERIALS)
    t = np.arange(audio.num_samples) / audio.sample_rate
    f0 = 300.0 + 250.0 * material[:, None]
    waves = (np.sin(2 * np.pi * f0 * t) * np.exp(-t * (10 + material[:, None]))).astype(np.float32)
    waves += 0.01 * rng.standard_normal(waves.shape).astype(np.float32)
    frames = np.zeros((n, 22, s, s, 3), np.uint8)
    frames[...] = (material * 25)[:, None, None, None, None]
    frames[..., 1] = rng.integers(0, 40, size=(n, 22, s, s), dtype=np.uint8)
    bin_hz = audio.sample_rate / audio.n_fft
    arrays = {
        "waves": waves,
        "frames": frames,
        "freq_hz": (np.arange(k) * bin_hz + rng.uniform(-bin_hz / 2, bin_hz / 2, (n, k))).astype(
            np.float32
        ),
        "power_db": rng.uniform(-80, 0, (n, k)).astype(np.float32),
        "decay_db_per_s": rng.uniform(100, 2000, (n, k)).astype(np.float32),
    }
    for name, arr in arrays.items():
        np.save(root / f"{name}.npy", arr)
    with open(root / "index.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS)
        w.writeheader()
        for i in range(n):
            w.writerow({
                "clip_id": i, "video": f"v{i % 4}", "time_s": 0.5, "onset_frame": 11,
                "material": MATERIALS[material[i]], "material_id": int(material[i]), "action": "hit",
                "reaction": "static", "split": "test" if i % 4 == 3 else "train",
            })  # fmt: skip
    meta = {
        "format": "physfoley-prepared", "version": 1, "preset": audio.to_dict(),
        "materials": list(MATERIALS), "num_clips": n, "frames_per_window": 22, "image_size": s,
    }  # fmt: skip
    (root / "meta.json").write_text(json.dumps(meta))
    return root
