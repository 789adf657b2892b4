"""Whole-soundtrack metrics over a folder: onset accuracy/AP and APCC.

`onset_scores_of_folder` scores every soundtrack of a folder (.wav, .flac, or the audio of
.mp4) against the impact times of its Greatest Hits `NAME_times.txt` (`read_times_file`):
librosa onsets, confidence-ranked suppression, greedy matching, accuracy and average precision
per soundtrack, averaged (`physfoley.evaluation.metrics`, the CondFoleyGen / MMAudio onset
evaluation). `apcc_of_folder` reads the hits of SynthHits' `NAME_physics.json`
(`read_synthhits_hits`: time, material, kinetic energy lost), measures the onset strength of the
generated and the recorded soundtrack at each hit and correlates it with the energy per
material (PAVAS's APCC). `physfoley eval onsets` and `physfoley eval apcc` print their results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.audio.io import load_audio
from physfoley.data.greatest_hits import read_mp4_audio
from physfoley.errors import InputError
from physfoley.evaluation.metrics import (
    apcc,
    mean_onset_scores,
    onset_strength_at,
    soundtrack_onset_scores,
)


def read_times_file(path: Path) -> np.ndarray:
    """Impact times (s) from a Greatest Hits `NAME_times.txt` (first column of each line)."""
    times = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            times.append(float(line.split()[0]))
        except ValueError:
            raise InputError(f"{path} line {i + 1} does not start with a time: {line!r}") from None
    return np.asarray(times, dtype=np.float64)


def onset_scores_of_folder(
    audio_dir: str | os.PathLike,
    times_dir: str | os.PathLike,
    *,
    sample_rate: int = 22050,
    tolerance_s: float = 0.1,
    delta: float = 0.3,
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Onset accuracy and AP of every soundtrack in `audio_dir` against `times_dir`'s annotations.

    A soundtrack NAME(.wav|.flac|.mp4), a `_denoised` suffix ignored, is scored against
    `times_dir`/NAME_times.txt, analysed at `sample_rate` Hz, matched within `tolerance_s`.
    Returns (the `mean_onset_scores` summary, {file name: accuracy, ap, detected, annotated}).
    """
    audio_dir, times_dir = Path(audio_dir), Path(times_dir)
    for d in (audio_dir, times_dir):
        if not d.is_dir():
            raise InputError(f"{d} is not a folder")
    files = sorted(f for f in audio_dir.iterdir() if f.suffix.lower() in (".wav", ".flac", ".mp4"))
    if not files:
        raise InputError(f"{audio_dir} holds no .wav, .flac or .mp4 soundtracks")
    per_track = {}
    scores = []
    for f in files:
        name = f.stem.removesuffix("_denoised")
        times_path = times_dir / f"{name}_times.txt"
        if not times_path.is_file():
            raise InputError(f"no annotation {times_path} for soundtrack {f.name}")
        if f.suffix.lower() == ".mp4":
            wave = read_mp4_audio(f, sample_rate)
        else:
            wave, _ = load_audio(f, sample_rate=sample_rate)
        s = soundtrack_onset_scores(
            wave, sample_rate, read_times_file(times_path), tolerance_s=tolerance_s, delta=delta
        )
        scores.append(s)
        per_track[f.name] = {
            "accuracy": s.accuracy,
            "ap": s.ap,
            "detected": s.num_detected,
            "annotated": s.num_annotated,
        }
    return mean_onset_scores(scores), per_track


def read_synthhits_hits(path: Path) -> tuple[np.ndarray, list[float], list[str]]:
    """(times_s [H], kinetic energy lost (J) per hit, material per hit) of the "hit" actions of
    a SynthHits `NAME_physics.json`; `InputError` when it is not one."""
    try:
        hits = [h for h in json.loads(path.read_text())["hits"] if h["action"] == "hit"]
        times = np.asarray([h["time_s"] for h in hits], dtype=np.float64)
        energy = [float(h["kinetic_energy_change_j"]) for h in hits]
        materials = [str(h["material"]) for h in hits]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path} is not a SynthHits physics file ({err})") from None
    return times, energy, materials


def _soundtracks(audio_dir: Path) -> list[Path]:
    if not audio_dir.is_dir():
        raise InputError(f"{audio_dir} is not a folder")
    files = sorted(f for f in audio_dir.iterdir() if f.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise InputError(f"{audio_dir} holds no .wav or .flac soundtracks")
    return files


def apcc_of_folder(
    audio_dir: str | os.PathLike, physics_dir: str | os.PathLike, *, sample_rate: int = 22050
) -> dict[str, Any]:
    """APCC of the soundtracks NAME(.wav|_denoised.wav|.flac) in `audio_dir` and of the recorded
    NAME_denoised.wav of SynthHits folder `physics_dir`, from its NAME_physics.json hits.

    Returns {"apcc_generated", "apcc_reference", "apcc_delta" = |reference - generated|,
    "num_hits", "num_soundtracks"} (soundtracks without hits are skipped).
    """
    physics_dir = Path(physics_dir)
    gen_s, ref_s, energy, groups = [], [], [], []
    for f in _soundtracks(Path(audio_dir)):
        name = f.stem.removesuffix("_denoised")
        phys_path = physics_dir / f"{name}_physics.json"
        ref_path = physics_dir / f"{name}_denoised.wav"
        if not phys_path.is_file() or not ref_path.is_file():
            raise InputError(
                f"{physics_dir} lacks {phys_path.name} or {ref_path.name} for {f.name}"
            )
        times, hit_energy, materials = read_synthhits_hits(phys_path)
        energy += hit_energy
        groups += materials
        if times.size == 0:
            continue
        gen, _ = load_audio(f, sample_rate=sample_rate)
        ref, _ = load_audio(ref_path, sample_rate=sample_rate)
        gen_s.append(onset_strength_at(gen, sample_rate, times))
        ref_s.append(onset_strength_at(ref, sample_rate, times))
    if not gen_s:
        raise InputError("no hits to correlate")
    gen_all, ref_all = np.concatenate(gen_s), np.concatenate(ref_s)
    energy_arr, group_arr = np.asarray(energy), np.asarray(groups)
    a_gen = apcc(gen_all, energy_arr, group_arr)
    a_ref = apcc(ref_all, energy_arr, group_arr)
    return {
        "apcc_generated": a_gen,
        "apcc_reference": a_ref,
        "apcc_delta": abs(a_ref - a_gen),
        "num_hits": int(energy_arr.size),
        "num_soundtracks": len(gen_s),
    }
