"""The per-video cache of `physfoley data prepare` and its assembly into one dataset.

Each video's clips (`physfoley.data.clips.prepare_video`) are cached in `OUT/.parts/NAME/`
(.npy arrays, then header.json, each written atomically; keyed by the preset, the filter and
the source files' size and mtime), so a second run only does new or changed videos. `assemble`
joins the parts into the arrays, `index.csv` and `meta.json` that
`physfoley.data.datasets.PreparedData` reads, with train/test split by video (`split_videos`,
a seeded hash of the video name), never by clip.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.atomic import atomic_path, write_text_atomic
from physfoley.audio.params import MODE_KEYS
from physfoley.data.clips import PrepareOptions, VideoClips
from physfoley.data.datasets import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_COLUMNS,
    OPTIONAL_ARRAYS,
    REQUIRED_ARRAYS,
)
from physfoley.materials import MATERIALS

#: Folder of the per-video cache inside a prepared dataset.
PARTS_DIR = ".parts"
PART_ARRAYS = ("waves", "frames", *MODE_KEYS)


def part_path(out_dir: Path, name: str) -> Path:
    """Folder of one video's cached clips: `.npy` arrays + `header.json` (written last)."""
    return out_dir / PARTS_DIR / name


def write_part(path: Path, clips: VideoClips, fingerprint: str, signature: str) -> None:
    # A folder of plain .npy (no zip CRC, memory-mappable at assembly) whose header.json is
    # removed first and written last: a part without its header is never trusted.
    header = {
        "name": clips.name,
        "fingerprint": fingerprint,
        "signature": signature,
        "records": clips.records,
        "stats": clips.stats,
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "header.json").unlink(missing_ok=True)
    arrays = {"waves": clips.waves, "frames": clips.frames, **clips.modal}
    for name, arr in arrays.items():
        with atomic_path(path / f"{name}.npy", force=True) as tmp:
            np.save(tmp, np.ascontiguousarray(arr))
    write_text_atomic(path / "header.json", json.dumps(header), force=True)


def read_part_header(path: Path) -> dict[str, Any] | None:
    """The header of a cached part, or None when missing/corrupt (then it is recomputed)."""
    try:
        header = json.loads((path / "header.json").read_text())
        n = len(header["records"])
        for name in PART_ARRAYS:
            arr = np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            if arr.shape[:1] != (n,):
                return None
        return header
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, EOFError):
        return None


def part_is_current(path: Path, fingerprint: str, signature: str) -> bool:
    header = read_part_header(path) if path.is_dir() else None
    return (
        bool(header) and header["fingerprint"] == fingerprint and header["signature"] == signature
    )


# ---------------------------------------------------------------------------- split + assembly


def split_videos(names: list[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic train/test split of video names: the videos with the smallest seeded
    hash go to test, round(test_fraction * n) of them (at least 1 when n >= 2 and fraction > 0)."""
    if not names:
        return {}

    def key(name: str) -> str:
        return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()

    ranked = sorted(set(names), key=key)
    n_test = int(round(test_fraction * len(ranked)))
    if test_fraction > 0 and len(ranked) >= 2:
        n_test = min(max(n_test, 1), len(ranked) - 1)
    test = set(ranked[:n_test])
    return {name: ("test" if name in test else "train") for name in names}


def _index_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(INDEX_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6f}" if k == "time_s" else row[k]) for k in INDEX_COLUMNS})
    return buf.getvalue()


def assemble(out_dir: Path, names: list[str], options: PrepareOptions) -> dict[str, Any]:
    """Join the cached parts of `names` into the final arrays, index.csv and meta.json.

    Skips rewriting the arrays when the index is unchanged and they exist. meta.json is
    removed first and written last, so a folder with meta.json is always complete.
    Returns {"rewritten": bool, "num_clips": N, "stale_removed": [...]}.
    """
    cfg, video = options.config, options.video
    material_ids = {m: i for i, m in enumerate(MATERIALS)}
    splits = split_videos(names, options.test_fraction, options.seed)
    headers = {name: read_part_header(part_path(out_dir, name)) for name in names}
    rows: list[dict[str, Any]] = []
    for name in names:
        for rec in headers[name]["records"]:
            rows.append(
                {
                    "clip_id": len(rows),
                    "video": name,
                    **rec,
                    "material_id": material_ids[rec["material"]],
                    "split": splits[name],
                }
            )
    num_clips = len(rows)
    index_text = _index_csv(rows)
    index_path = out_dir / "index.csv"
    meta_path = out_dir / "meta.json"
    unchanged = (
        meta_path.is_file()
        and index_path.is_file()
        and index_path.read_text() == index_text
        and all((out_dir / f"{n}.npy").is_file() for n in REQUIRED_ARRAYS)
    )
    result: dict[str, Any] = {
        "rewritten": not unchanged,
        "num_clips": num_clips,
        "stale_removed": [],
    }
    if not unchanged:
        if meta_path.exists():
            meta_path.unlink()
        shapes = {
            "waves": ((cfg.num_samples,), np.float32),
            "frames": ((video.frames_per_window, video.image_size, video.image_size, 3), np.uint8),
            **{n: ((cfg.num_freqs,), np.float32) for n in MODE_KEYS},
        }
        for array_name, (shape, dtype) in shapes.items():
            with atomic_path(out_dir / f"{array_name}.npy", force=True) as tmp:
                target = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=dtype, shape=(num_clips, *shape)
                )
                row = 0
                for name in names:
                    n = len(headers[name]["records"])
                    if n:
                        part = part_path(out_dir, name) / f"{array_name}.npy"
                        target[row : row + n] = np.load(part, mmap_mode="r", allow_pickle=False)
                    row += n
                target.flush()
                del target
        # residual arrays belong to the old rows: drop them rather than mislabel clips
        for stale in OPTIONAL_ARRAYS:
            path = out_dir / f"{stale}.npy"
            if path.exists():
                path.unlink()
                result["stale_removed"].append(path.name)
        write_text_atomic(index_path, index_text, force=True)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "preset": options.preset_dict,
        "materials": list(MATERIALS),
        "num_clips": num_clips,
        "frames_per_window": video.frames_per_window,
        "image_size": video.image_size,
        "sample_rate": cfg.sample_rate,
        "num_samples": cfg.num_samples,
        "num_modes": cfg.num_freqs,
        "filter": {
            "materials": list(options.materials),
            "actions": list(options.actions),
            "reactions": list(options.reactions),
        },
        "split": {
            "method": "video-hash",
            "test_fraction": options.test_fraction,
            "seed": options.seed,
        },
        "fingerprint": options.fingerprint(),
        "num_videos": len(names),
        "clips_per_split": dict(Counter(r["split"] for r in rows)),
        "arrays": sorted(
            p.stem
            for p in out_dir.glob("*.npy")
            if p.stem in {**REQUIRED_ARRAYS, **OPTIONAL_ARRAYS}
        ),
    }
    if not unchanged or not meta_path.is_file() or json.loads(meta_path.read_text()) != meta:
        write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n", force=True)
    return result


__all__ = [
    "PARTS_DIR",
    "assemble",
    "part_is_current",
    "part_path",
    "read_part_header",
    "split_videos",
    "write_part",
]
