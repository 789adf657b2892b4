"""`physfoley data prepare`: a Greatest Hits folder (real or SynthHits) to a training set.

`prepare_dataset` finds the videos of the folder (`physfoley.data.greatest_hits`), cuts each
video's clips (`physfoley.data.clips.prepare_video`: audio clip, 22-frame window, modal
parameters per kept hit) in threads or processes, caches them per video and assembles the
compact, memory-mapped arrays, `index.csv` and `meta.json` that
`physfoley.data.datasets.PreparedData` reads (`physfoley.data.parts`). Work is per video and
resumable: a second run only does new or changed videos. Train/test is split by video, never
by clip. A video whose files cannot be read is reported by name, skipped and counted.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.atomic import atomic_path, write_text_atomic
from physfoley.data.clips import PrepareOptions, prepare_video, source_signature
from physfoley.data.datasets import OPTIONAL_ARRAYS, read_index
from physfoley.data.greatest_hits import VideoEntry, discover_videos
from physfoley.data.parts import (
    PARTS_DIR,
    assemble,
    part_is_current,
    part_path,
    read_part_header,
    split_videos,
    write_part,
)
from physfoley.errors import InputError, PhysfoleyError
from physfoley.numba_cache import warm


def _worker_init() -> None:
    # several processes on few cores: one BLAS/torch thread each
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _run_one(task: tuple[VideoEntry, PrepareOptions, str, str]) -> dict[str, Any]:
    """Prepare one video and write its part; never raises (errors come back as a dict)."""
    entry, options, out_dir, fingerprint = task
    try:
        signature = source_signature(entry)
        clips = prepare_video(entry, options)
        write_part(part_path(Path(out_dir), entry.name), clips, fingerprint, signature)
        return {"name": entry.name, "ok": True, "clips": len(clips.records)}
    except PhysfoleyError as err:
        return {"name": entry.name, "ok": False, "error": str(err)}
    except Exception as err:  # a corrupt file can make any decoder raise anything
        return {"name": entry.name, "ok": False, "error": f"{type(err).__name__}: {err}"}


def check_out_dir(out_dir: Path, options: PrepareOptions, *, force: bool = False) -> None:
    """Refuse to write into a folder that is not ours, or that holds a dataset prepared with
    other settings (unless `force`, which then rebuilds it)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    if not out_dir.exists():
        if not out_dir.parent.is_dir():
            raise InputError(f"folder {out_dir.parent} does not exist; create it first")
        return
    meta_path = out_dir / "meta.json"
    ours = meta_path.is_file() or (out_dir / PARTS_DIR).is_dir()
    if not ours and any(out_dir.iterdir()):
        raise InputError(
            f"{out_dir} is a non-empty folder that is not a prepared dataset; choose a new or empty folder"
        )
    if meta_path.is_file() and not force:
        try:
            old = json.loads(meta_path.read_text()).get("fingerprint")
        except (OSError, json.JSONDecodeError):
            old = None
        if old is not None and old != options.fingerprint():
            raise InputError(
                f"{out_dir} holds a dataset prepared with another preset or filter; "
                "choose another --out folder, or pass --force to rebuild it"
            )


def prepare_dataset(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: PrepareOptions | None = None,
    *,
    workers: int = 1,
    processes: bool = False,
    force: bool = False,
    on_video: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Prepare every video of the Greatest Hits folder `root` into `out_dir`.

    workers : videos prepared at once (1 = one after the other in this thread).
    processes : run the workers as processes (spawned; each imports torch once) instead of
        threads; worth it only for long jobs on many cores.
    on_start(total_videos, cached_videos) and on_video(result) are progress callbacks (the CLI
    draws a bar with them); result = {"name", "ok", "clips" | "error", "cached"}.
    Returns the summary dict (also written to out_dir/summary.json).
    """
    options = options or PrepareOptions()
    options.validate()
    out_dir = Path(out_dir)
    entries = discover_videos(root)
    check_out_dir(out_dir, options, force=force)
    started = time.perf_counter()
    (out_dir / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    fingerprint = options.fingerprint()
    todo, cached = [], []
    for entry in entries:
        try:
            signature = source_signature(entry)
        except OSError:
            signature = ""
        if signature and part_is_current(part_path(out_dir, entry.name), fingerprint, signature):
            cached.append(entry.name)
        else:
            todo.append(entry)
    if on_start:
        on_start(len(entries), len(cached))
    tasks = [(entry, options, str(out_dir), fingerprint) for entry in todo]
    results = _run_videos(tasks, workers=workers, processes=processes, on_video=on_video)
    failed = sorted((r for r in results if not r["ok"]), key=lambda r: r["name"])
    done = sorted(cached + [r["name"] for r in results if r["ok"]])
    assembly = assemble(out_dir, done, options)
    summary = {
        "root": str(root),
        "out": str(out_dir),
        "preset": options.config.name,
        "videos_found": len(entries),
        "videos_prepared": len(done),
        "videos_new": len(done) - len(cached),
        "videos_cached": len(cached),
        "videos_failed": len(failed),
        "failed": [{"video": r["name"], "error": r["error"]} for r in failed],
        **_clip_counts(out_dir, done, options, assembly, results, started),
    }
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n", force=True)
    return summary


def _run_videos(
    tasks: list[tuple[VideoEntry, PrepareOptions, str, str]],
    *,
    workers: int,
    processes: bool,
    on_video: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """Run `_run_one` on every task (in this thread, in threads or in spawned processes);
    returns the results in the order they finished, each also passed to `on_video`."""
    results = []
    if workers > 1 and len(tasks) > 1:
        if processes:
            warm()  # numba's cache is unsafe for concurrent first compiles
            # spawn: safe with torch/OpenMP state in the parent; each worker pays the imports
            pool_cm = mp.get_context("spawn").Pool(
                min(workers, len(tasks)), initializer=_worker_init
            )
            with pool_cm as pool:
                for result in pool.imap_unordered(_run_one, tasks):
                    results.append(result)
                    if on_video:
                        on_video({**result, "cached": False})
        else:
            # threads: video decoding (PyAV), resizing (OpenCV), resampling (soxr) and the
            # modal analysis (torch) release the GIL, and nothing is imported twice
            with ThreadPoolExecutor(min(workers, len(tasks))) as pool:
                futures = [pool.submit(_run_one, task) for task in tasks]
                for future in as_completed(futures):
                    result = future.result()
                    results.append(result)
                    if on_video:
                        on_video({**result, "cached": False})
    else:
        for task in tasks:
            result = _run_one(task)
            results.append(result)
            if on_video:
                on_video({**result, "cached": False})
    return results


def _clip_counts(
    out_dir: Path,
    done: list[str],
    options: PrepareOptions,
    assembly: dict[str, Any],
    results: list[dict[str, Any]],
    started: float,
) -> dict[str, Any]:
    """The summary's counts of hits and clips (from the parts' stats and the new index)."""
    stats: Counter[str] = Counter()
    for name in done:
        stats.update((read_part_header(part_path(out_dir, name)) or {}).get("stats", {}))
    rows = read_index(out_dir / "index.csv")
    elapsed = time.perf_counter() - started
    new_clips = sum(r.get("clips", 0) for r in results if r["ok"])
    return {
        "annotations": stats.get("annotations", 0),
        "clips": assembly["num_clips"],
        "clips_new": new_clips,
        "filtered_out": {
            "material": stats.get("filtered_material", 0),
            "action": stats.get("filtered_action", 0),
            "reaction": stats.get("filtered_reaction", 0),
        },
        "skipped_hits": {
            "outside_audio": stats.get("outside_audio", 0),
            "silent_clip": stats.get("silent_clips", 0),
        },
        "windows_padded": stats.get("windows_padded", 0),
        "clips_audio_padded": stats.get("audio_padded", 0),
        "hits_after_last_frame": stats.get("outside_video", 0),
        "audio_from_mp4_videos": stats.get("audio_from_mp4", 0),
        "clips_per_split": dict(Counter(r["split"] for r in rows)),
        "videos_per_split": dict(
            Counter(split_videos(done, options.test_fraction, options.seed).values())
        ),
        "clips_per_material": {
            m: c for m, c in sorted(Counter(r["material"] for r in rows).items())
        },
        "arrays_rewritten": assembly["rewritten"],
        "stale_arrays_removed": assembly["stale_removed"],
        "seconds": round(elapsed, 3),
        "new_clips_per_s": round(new_clips / elapsed, 2) if elapsed > 0 and new_clips else 0.0,
    }


def add_arrays(out_dir: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Add per-clip arrays to a prepared folder (e.g. the residual network's `band_weight` and
    `band_decay_db_per_s`, float32 [N, M]); written atomically, listed in meta.json.

    Only the names of `OPTIONAL_ARRAYS` are accepted, both together, with N = num_clips rows.
    """
    out_dir = Path(out_dir)
    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{out_dir} is not a prepared dataset (no meta.json)")
    meta = json.loads(meta_path.read_text())
    if set(arrays) != set(OPTIONAL_ARRAYS):
        raise InputError(
            f"add_arrays takes exactly {sorted(OPTIONAL_ARRAYS)}, got {sorted(arrays)}"
        )
    shapes = {np.shape(a) for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"arrays must all be [N, M] of one shape, got {sorted(shapes)}")
    if next(iter(shapes))[0] != meta["num_clips"]:
        raise InputError(
            f"arrays have {next(iter(shapes))[0]} rows but {out_dir} has {meta['num_clips']} clips"
        )
    for name, arr in arrays.items():
        arr = np.asarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InputError(f"{name} holds NaN or infinite values; refusing to write it")
        with atomic_path(out_dir / f"{name}.npy", force=True) as tmp:
            np.save(tmp, arr)
    meta["arrays"] = sorted(set(meta.get("arrays", [])) | set(arrays))
    write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n", force=True)


def remove_parts(out_dir: str | os.PathLike) -> None:
    """Delete the per-video cache of a prepared folder (frees disk; the next run recomputes)."""
    shutil.rmtree(Path(out_dir) / PARTS_DIR, ignore_errors=True)


__all__ = [
    "add_arrays",
    "check_out_dir",
    "prepare_dataset",
    "remove_parts",
]
