"""Read a prepared dataset (`physfoley data prepare`) and serve it to training as a torch Dataset.

A prepared folder holds a few large `.npy` arrays (one row per impact clip), `index.csv` (one
row per clip: video, time, material, split, ...) and `meta.json` (preset, materials, counts).
`PreparedData.open` memory-maps the arrays, so opening 10k clips costs milliseconds and only
the rows a batch touches are read from disk; `ImpactClipDataset` turns rows into dicts of
tensors for `torch.utils.data.DataLoader`.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from physfoley.errors import InputError
from physfoley.materials import MATERIALS

FORMAT_NAME = "physfoley-prepared"
FORMAT_VERSION = 1


#: Arrays every prepared folder has, and their dtype.
REQUIRED_ARRAYS: dict[str, str] = {
    "waves": "float32",
    "frames": "uint8",
    "freq_hz": "float32",
    "power_db": "float32",
    "decay_db_per_s": "float32",
}
#: Arrays written later (residual network); present or absent together.
OPTIONAL_ARRAYS: dict[str, str] = {
    "band_weight": "float32",
    "band_decay_db_per_s": "float32",
}
INDEX_COLUMNS: tuple[str, ...] = (
    "clip_id",
    "video",
    "time_s",
    "onset_frame",
    "material",
    "material_id",
    "action",
    "reaction",
    "split",
)
SPLITS = ("train", "test")

# array name -> item key of ImpactClipDataset
_ITEM_KEYS = {
    "waves": "wave",
    "frames": "frames",
    "freq_hz": "freq_hz",
    "power_db": "power_db",
    "decay_db_per_s": "decay_db_per_s",
    "band_weight": "band_weight",
    "band_decay_db_per_s": "band_decay_db_per_s",
}


def _parse_index_row(row: dict[str, str], path: Path, line: int) -> dict[str, Any]:
    try:
        return {
            "clip_id": int(row["clip_id"]),
            "video": row["video"],
            "time_s": float(row["time_s"]),
            "onset_frame": int(row["onset_frame"]),
            "material": row["material"],
            "material_id": int(row["material_id"]),
            "action": row["action"],
            "reaction": row["reaction"],
            "split": row["split"],
        }
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{path} line {line} is malformed ({row}); re-run `physfoley data prepare`"
        ) from None


def read_index(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read `index.csv` into a list of typed records (one dict per clip, in clip order)."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"{path} lacks columns {missing}; re-run `physfoley data prepare` to rebuild it"
            )
        return [_parse_index_row(row, path, i + 2) for i, row in enumerate(reader)]


@dataclass
class PreparedData:
    """A prepared dataset folder, memory-mapped.

    Attributes
    ----------
    root : the folder.
    meta : contents of meta.json (preset dict, materials, num_clips, frames_per_window, ...).
    index : one record per clip (keys `INDEX_COLUMNS`), row i describes row i of every array.
    arrays : name -> read-only memory-mapped array; `waves` [N, num_samples] float32,
        `frames` [N, 22, S, S, 3] uint8 RGB, `freq_hz` / `power_db` / `decay_db_per_s`
        [N, K] float32, and `band_weight` / `band_decay_db_per_s` [N, M] when present.
    """

    root: Path
    meta: dict[str, Any]
    index: list[dict[str, Any]]
    arrays: dict[str, np.ndarray] = field(repr=False)

    @classmethod
    def open(cls, root: str | os.PathLike, *, mmap: bool = True) -> PreparedData:
        """Open a folder written by `physfoley data prepare`; clear `InputError` when it is not one."""
        root = Path(root)
        meta_path = root / "meta.json"
        if not root.is_dir():
            raise InputError(
                f"{root} is not a folder; give the --out folder of `physfoley data prepare`"
            )
        if not meta_path.is_file():
            raise InputError(
                f"{root} has no meta.json; it is not a prepared dataset (or preparation has not "
                "finished): run `physfoley data prepare ROOT --out {root}`"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"{meta_path} is not valid JSON ({err}); re-run preparation") from None
        if meta.get("format") != FORMAT_NAME:
            raise InputError(
                f"{meta_path} is not a {FORMAT_NAME} file (format={meta.get('format')!r})"
            )
        if int(meta.get("version", -1)) > FORMAT_VERSION:
            raise InputError(
                f"{root} was written by a newer physfoley (format version {meta.get('version')}); "
                "upgrade physfoley"
            )
        index_path = root / "index.csv"
        if not index_path.is_file():
            raise InputError(f"{root} has no index.csv; re-run `physfoley data prepare`")
        index = read_index(index_path)
        num_clips = int(meta.get("num_clips", len(index)))
        if len(index) != num_clips:
            raise InputError(
                f"{index_path} has {len(index)} rows but meta.json says {num_clips} clips; "
                "the folder is inconsistent: re-run `physfoley data prepare`"
            )
        arrays: dict[str, np.ndarray] = {}
        names = list(REQUIRED_ARRAYS) + [
            n for n in OPTIONAL_ARRAYS if (root / f"{n}.npy").is_file()
        ]
        for name in names:
            path = root / f"{name}.npy"
            if not path.is_file():
                raise InputError(f"{root} lacks {name}.npy; re-run `physfoley data prepare`")
            try:
                arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise InputError(f"{path} is not a readable .npy array ({err})") from None
            if arr.shape[:1] != (num_clips,):
                raise InputError(
                    f"{path} has {arr.shape[0] if arr.ndim else 0} rows, expected {num_clips}; "
                    "re-run `physfoley data prepare`"
                )
            arrays[name] = arr
        return cls(root=root, meta=meta, index=index, arrays=arrays)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def materials(self) -> list[str]:
        return list(self.meta.get("materials", MATERIALS))

    @property
    def has_residual(self) -> bool:
        """True when `band_weight` and `band_decay_db_per_s` are present."""
        return all(n in self.arrays for n in OPTIONAL_ARRAYS)

    def column(self, name: str) -> np.ndarray:
        """One index column as an array [N] (e.g. "material_id", "video", "time_s")."""
        if name not in INDEX_COLUMNS:
            raise InputError(f"unknown index column {name!r}; known: {list(INDEX_COLUMNS)}")
        return np.asarray([rec[name] for rec in self.index])

    def indices(self, split: str | None = None) -> np.ndarray:
        """Row numbers [n] int64 of the clips in `split` ("train", "test"; None or "all" = every clip)."""
        if split in (None, "all"):
            return np.arange(len(self.index), dtype=np.int64)
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of {list(SPLITS)} or 'all'")
        return np.asarray(
            [i for i, rec in enumerate(self.index) if rec["split"] == split], dtype=np.int64
        )


class ImpactClipDataset(Dataset):
    """Torch Dataset of prepared impact clips (one item per clip of `split`).

    Each item is a dict of tensors:
    "wave" Tensor[num_samples] float32 (the raw cut clip), "frames" Tensor[22, S, S, 3] uint8 RGB,
    "freq_hz" / "power_db" / "decay_db_per_s" Tensor[K] float32, "band_weight" /
    "band_decay_db_per_s" Tensor[M] float32 (when the folder has them), "material" long
    (index into `materials`), "index" long (row in the prepared folder, also the clip_id).

    `fields` restricts the array keys loaded (e.g. ("wave", "freq_hz")) so a loader reads only
    what a training stage needs; "material" and "index" are always present. The arrays stay
    memory-mapped, and are re-opened in each DataLoader worker rather than pickled.
    """

    def __init__(
        self,
        root: str | os.PathLike | PreparedData,
        split: str | None = "train",
        fields: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        self.data = root if isinstance(root, PreparedData) else PreparedData.open(root)
        self.root = self.data.root
        self.split = split
        self.rows = self.data.indices(split)
        available = {_ITEM_KEYS[n]: n for n in self.data.arrays}
        if fields is None:
            self.fields = tuple(available)
        else:
            unknown = [f for f in fields if f not in available and f not in ("material", "index")]
            if unknown:
                raise InputError(
                    f"unknown or absent dataset fields {unknown} in {self.root}; "
                    f"available: {sorted(available)}"
                )
            self.fields = tuple(f for f in fields if f in available)
        self._array_names = {key: available[key] for key in self.fields}
        self.material_ids = np.asarray(
            [self.data.index[i]["material_id"] for i in self.rows], dtype=np.int64
        )

    @property
    def materials(self) -> list[str]:
        return self.data.materials

    @property
    def meta(self) -> dict[str, Any]:
        return self.data.meta

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range for {len(self)} clips")
        row = int(self.rows[i])
        item: dict[str, Any] = {}
        for key, name in self._array_names.items():
            item[key] = torch.from_numpy(np.array(self.data.arrays[name][row]))
        item["material"] = torch.tensor(int(self.material_ids[i]), dtype=torch.long)
        item["index"] = torch.tensor(row, dtype=torch.long)
        return item

    # np.memmap would pickle as a full in-memory copy: send the path, re-open in the worker.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["data"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.data = PreparedData.open(self.root)
