"""Generated clips stored for scoring: the `.npz` that `physfoley eval --generated` reads.

A file holds `rows` [N] (rows of a prepared dataset, all in the evaluated split) and either
`specs` [N, F, T] or [K, N, F, T] normalised log-spectrograms, or `waves` [N, S] / [K, N, S]
(turned into spectrograms here), K being the runs (seeds). `physfoley eval --save-generated`
writes one with `save_generated` (float16 spectrograms), the retrieval baselines write theirs,
and `load_generated` checks and reads any of them, so samples made once can be re-scored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from physfoley.config import AudioConfig
from physfoley.errors import InputError
from physfoley.evaluation.classifier import waves_to_spectrograms
from physfoley.outputs import write_npz


def load_generated(
    path: str | os.PathLike, split_rows: np.ndarray, audio: AudioConfig
) -> tuple[np.ndarray, list[torch.Tensor]]:
    """(rows [N], list of K spectrogram sets Tensor[N, F, T]) from a generated-clips .npz file.

    split_rows : the rows of the evaluated split; every row of the file must be one of them.
    Raises `InputError` when the file is missing, unreadable or shaped otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--generated file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = dict(z.items())
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a readable .npz file ({err})") from None
    if "rows" not in files or not ({"specs", "waves"} & set(files)):
        raise InputError(f"{path} needs arrays `rows` and `specs` (or `waves`)")
    rows = np.asarray(files["rows"], dtype=np.int64).reshape(-1)
    bad = np.setdiff1d(rows, split_rows)
    if bad.size:
        raise InputError(f"{path}: row {bad[0]} is not a clip of the evaluated split")
    if "specs" in files:
        specs = np.asarray(files["specs"], dtype=np.float32)
        if specs.ndim == 3:
            specs = specs[None]
        if specs.ndim != 4 or specs.shape[1] != rows.size or specs.shape[2:] != audio.spec_shape:
            raise InputError(
                f"{path}: specs must be [K, {rows.size}, {audio.spec_shape[0]}, "
                f"{audio.spec_shape[1]}], got {specs.shape}"
            )
        return rows, [torch.from_numpy(s) for s in specs]
    waves = np.asarray(files["waves"], dtype=np.float32)
    if waves.ndim == 2:
        waves = waves[None]
    if waves.ndim != 3 or waves.shape[1] != rows.size:
        raise InputError(f"{path}: waves must be [K, {rows.size}, S], got {waves.shape}")
    return rows, [waves_to_spectrograms(w, audio) for w in waves]


def save_generated(
    path: str | os.PathLike,
    rows: np.ndarray,
    runs: list[torch.Tensor],
    seeds: list[int],
    *,
    force: bool = False,
) -> Path:
    """Write `rows` [N], the K runs as float16 `specs` [K, N, F, T] and their `seeds` [K]."""
    specs16 = np.stack([r.numpy() for r in runs]).astype(np.float16)
    return write_npz(path, force=force, rows=rows, specs=specs16, seeds=np.asarray(seeds))
