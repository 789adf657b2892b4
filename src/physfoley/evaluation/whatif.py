"""What-if edits measured: how much louder the generated hits get when the physics is edited.

`level_change_of_folders` pairs the soundtracks of two folders by name (e.g. generated with
`--speed-scale 1` and `--speed-scale 2`), and at every true hit of SynthHits'
`NAME_physics.json` measures each soundtrack's peak level, 20 log10 max |x| over
[t - 0.03 s, t + 0.1 s]; the change per hit is edited minus base, in dB. In SynthHits' contact
model the amplitude is proportional to the impulse, i.e. to the speed, so doubling the speed
should add 20 log10 2 = 6.0 dB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.audio.io import load_audio
from physfoley.errors import InputError
from physfoley.evaluation.soundtracks import read_synthhits_hits

WINDOW_S = (-0.03, 0.1)  # around each true hit time
FLOOR = 1e-6  # -120 dB


def peak_levels_db(wave: np.ndarray, rate: int, times_s: np.ndarray) -> np.ndarray:
    """20 log10 of the peak |wave| within WINDOW_S of each time: float64 [H]."""
    out = np.full(len(times_s), 20 * np.log10(FLOOR))
    for i, t in enumerate(times_s):
        a = max(0, int((t + WINDOW_S[0]) * rate))
        b = min(len(wave), int((t + WINDOW_S[1]) * rate))
        if b > a:
            out[i] = 20 * np.log10(max(float(np.abs(wave[a:b]).max()), FLOOR))
    return out


def _by_name(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    files = [f for f in folder.iterdir() if f.suffix.lower() in (".wav", ".flac")]
    return {f.stem.removesuffix("_denoised"): f for f in sorted(files)}


def level_change_of_folders(
    base_dir: str | os.PathLike, edited_dir: str | os.PathLike, physics_dir: str | os.PathLike,
    *, sample_rate: int = 16000,
) -> dict[str, Any]:  # fmt: skip
    """{"mean_db", "median_db", "std_db", "num_hits", "num_soundtracks"} of the per-hit peak
    level change edited - base over every soundtrack present in both folders."""
    base, edited = _by_name(Path(base_dir)), _by_name(Path(edited_dir))
    names = sorted(set(base) & set(edited))
    if not names:
        raise InputError(f"{base_dir} and {edited_dir} share no soundtrack name")
    changes = []
    for name in names:
        phys = Path(physics_dir) / f"{name}_physics.json"
        if not phys.is_file():
            raise InputError(f"{physics_dir} lacks {phys.name}")
        times, _, _ = read_synthhits_hits(phys)
        a, _ = load_audio(base[name], sample_rate=sample_rate)
        b, _ = load_audio(edited[name], sample_rate=sample_rate)
        changes.append(
            peak_levels_db(b, sample_rate, times) - peak_levels_db(a, sample_rate, times)
        )
    d = np.concatenate(changes)
    if d.size == 0:
        raise InputError("the soundtracks' physics files hold no hits")
    return {
        "mean_db": float(d.mean()),
        "median_db": float(np.median(d)),
        "std_db": float(d.std()),
        "num_hits": int(d.size),
        "num_soundtracks": len(names),
    }
