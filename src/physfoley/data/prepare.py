"""Turn the Greatest Hits layout (real or SynthHits) into a compact, memory-mapped training set.

For every annotated hit kept by the filter (paper default: action `hit`, reaction `static`,
the 10 materials) this cuts a 0.25 s clip starting at the annotated time (no pre-roll,
zero-padded at the end, at the preset's sample rate), the 22-frame window around the onset
frame (onset - 11 .. onset + 11, from the video's real frame times, edge frames repeated where
the window runs off the video), and the clip's modal parameters (`physfoley.audio.analysis`).

Work is per video and resumable: each video's result is cached in `OUT/.parts/NAME/` (.npy
arrays, then header.json, each written atomically; keyed by the preset, the filter and the
source files' size and mtime), so a second run only does new or changed videos; then the
parts are assembled into the arrays, `index.csv` and `meta.json` that
`physfoley.data.datasets.PreparedData` reads.
Train/test is split by video (a seeded hash of the video name), never by clip.
A video whose files cannot be read is reported by name, skipped and counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.atomic import atomic_path, write_text_atomic
from physfoley.audio.params import MODE_KEYS
from physfoley.config import AudioConfig, get_preset
from physfoley.data.datasets import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_COLUMNS,
    OPTIONAL_ARRAYS,
    REQUIRED_ARRAYS,
    read_index,
)
from physfoley.data.greatest_hits import (
    MATERIALS,
    VideoEntry,
    discover_videos,
    read_audio,
    read_times,
)
from physfoley.errors import InputError, PhysfoleyError

PARTS_DIR = ".parts"
PART_VERSION = 1


@dataclass(frozen=True)
class PrepareOptions:
    """What to keep and how to cut it.

    preset : audio preset name ("small" | "paper") or an `AudioConfig`; sets the sample rate,
        clip length, modal analysis settings, frames per window and image size.
    materials, actions, reactions : labels kept (lower case); an annotation is kept when all
        three match.
    test_fraction : share of VIDEOS put in the test split (at least one when there are two or more).
    seed : seed of the split hash.
    """

    preset: str | AudioConfig = "small"
    materials: tuple[str, ...] = MATERIALS
    actions: tuple[str, ...] = ("hit",)
    reactions: tuple[str, ...] = ("static",)
    test_fraction: float = 0.2
    seed: int = 0

    @property
    def config(self) -> AudioConfig:
        return get_preset(self.preset)

    def validate(self) -> None:
        unknown = [m for m in self.materials if m not in MATERIALS]
        if unknown:
            raise InputError(f"unknown materials {unknown}; choose from {list(MATERIALS)}")
        if not self.materials or not self.actions or not self.reactions:
            raise InputError(
                "the filter keeps nothing: give at least one material, action and reaction"
            )
        if not 0.0 <= self.test_fraction < 1.0:
            raise InputError(f"test fraction must be in [0, 1), got {self.test_fraction}")

    def fingerprint(self) -> str:
        """Hash of everything that changes a video's cached part (not the split)."""
        key = {
            "preset": self.config.to_dict(),
            "materials": sorted(self.materials),
            "actions": sorted(self.actions),
            "reactions": sorted(self.reactions),
            "part_version": PART_VERSION,
        }
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class VideoClips:
    """The clips of one video.

    waves [n, num_samples] float32, frames [n, F, S, S, 3] uint8, freq_hz / power_db /
    decay_db_per_s [n, K] float32, records: one dict per clip (time_s, onset_frame, material,
    action, reaction), stats: counters (kept, filtered, padded windows, ...).
    """

    name: str
    waves: np.ndarray
    frames: np.ndarray
    modal: dict[str, np.ndarray]
    records: list[dict[str, Any]]
    stats: dict[str, int] = field(default_factory=dict)


def _source_signature(entry: VideoEntry) -> str:
    parts = []
    for path in entry.source_paths():
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def onset_windows(
    frame_times_s: np.ndarray, hit_times_s: np.ndarray, frames_per_window: int = 22
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame windows around each hit.

    frame_times_s : [T] presentation time of each frame; hit_times_s : [B] seconds.
    Returns onset [B] (index of the frame nearest each hit), window [B, F] frame indices
    onset - F//2 .. onset + F - F//2 (exclusive) clipped to [0, T-1] (edge frame repeated),
    padded [B] bool (the window ran off the video).
    """
    frame_times_s = np.asarray(frame_times_s, dtype=np.float64)
    hit_times_s = np.asarray(hit_times_s, dtype=np.float64)
    num_frames = frame_times_s.shape[0]
    right = np.clip(np.searchsorted(frame_times_s, hit_times_s), 0, num_frames - 1)
    left = np.clip(right - 1, 0, num_frames - 1)
    pick_left = np.abs(frame_times_s[left] - hit_times_s) <= np.abs(
        frame_times_s[right] - hit_times_s
    )
    onset = np.where(pick_left, left, right)
    half = frames_per_window // 2
    window = onset[:, None] + np.arange(-half, frames_per_window - half)[None, :]
    padded = (window < 0).any(axis=1) | (window >= num_frames).any(axis=1)
    return onset, np.clip(window, 0, num_frames - 1), padded


def cut_clips(
    wave: np.ndarray, sample_rate: int, times_s: np.ndarray, num_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Clips of `num_samples` starting at each time (no pre-roll), zero-padded past the end.

    wave : [N] float32; times_s : [B]. Returns clips [B, num_samples] float32 and padded [B] bool.
    """
    starts = np.round(np.asarray(times_s, dtype=np.float64) * sample_rate).astype(np.int64)
    padded_wave = np.concatenate(
        [wave.astype(np.float32, copy=False), np.zeros(num_samples, np.float32)]
    )
    idx = np.minimum(starts[:, None] + np.arange(num_samples)[None, :], padded_wave.shape[0] - 1)
    return padded_wave[idx], starts + num_samples > wave.shape[0]


def modal_arrays(waves: np.ndarray, cfg: AudioConfig) -> dict[str, np.ndarray]:
    """Modal parameters of a batch of clips: waves [B, num_samples] -> name -> [B, K] float32."""
    from physfoley.audio.analysis import analyze

    if waves.shape[0] == 0:
        return {n: np.zeros((0, cfg.num_freqs), np.float32) for n in MODE_KEYS}
    params = analyze(waves, cfg.sample_rate, preset=cfg)
    out = {}
    for name in MODE_KEYS:
        arr = np.asarray(getattr(params, name), dtype=np.float32).reshape(waves.shape[0], -1)
        out[name] = arr
    return out


def prepare_video(entry: VideoEntry, options: PrepareOptions) -> VideoClips:
    """Cut every kept hit of one video. Raises `InputError` for unreadable/corrupt/missing files."""
    from physfoley.video.io import read_video

    cfg = options.config
    if entry.times_path is None:
        raise InputError(f"video {entry.name} has no {entry.name}_times.txt")
    if entry.video_path is None:
        raise InputError(f"video {entry.name} has no {entry.name}_denoised.mp4")
    annotations = read_times(entry.times_path)
    stats: Counter[str] = Counter(annotations=len(annotations))
    kept = []
    for ann in annotations:
        if ann.material not in options.materials:
            stats["filtered_material"] += 1
        elif ann.action not in options.actions:
            stats["filtered_action"] += 1
        elif ann.reaction not in options.reactions:
            stats["filtered_reaction"] += 1
        else:
            kept.append(ann)
    f, s, k = cfg.frames_per_window, cfg.image_size, cfg.num_freqs
    empty = VideoClips(
        entry.name,
        np.zeros((0, cfg.num_samples), np.float32),
        np.zeros((0, f, s, s, 3), np.uint8),
        {n: np.zeros((0, k), np.float32) for n in MODE_KEYS},
        [],
        dict(stats),
    )
    if not kept:
        return empty
    wave, audio_source = read_audio(entry, cfg.sample_rate)
    stats[f"audio_from_{audio_source}"] = 1
    times = np.asarray([a.time_s for a in kept])
    starts = np.round(times * cfg.sample_rate).astype(np.int64)
    inside = starts < wave.shape[0]
    stats["outside_audio"] = int((~inside).sum())
    kept = [a for a, ok in zip(kept, inside, strict=True) if ok]
    times = times[inside]
    waves, audio_padded = cut_clips(wave, cfg.sample_rate, times, cfg.num_samples)
    audible = np.abs(waves).max(axis=1) > 0 if len(kept) else np.zeros(0, bool)
    stats["silent_clips"] = int((~audible).sum())
    kept = [a for a, ok in zip(kept, audible, strict=True) if ok]
    times, waves, audio_padded = times[audible], waves[audible], audio_padded[audible]
    if not kept:
        return VideoClips(**{**empty.__dict__, "stats": dict(stats)})
    video = read_video(entry.video_path, size=cfg.image_size)
    onset, window, window_padded = onset_windows(video.times_s, times, f)
    stats["outside_video"] = int((times > video.times_s[-1] + 1.0 / max(video.fps, 1.0)).sum())
    frames = video.frames[window]  # [B, F, S, S, 3]
    modal = modal_arrays(waves, cfg)
    stats["clips"] = len(kept)
    stats["windows_padded"] = int(window_padded.sum())
    stats["audio_padded"] = int(audio_padded.sum())
    records = [
        {
            "time_s": float(a.time_s),
            "onset_frame": int(o),
            "material": a.material,
            "action": a.action,
            "reaction": a.reaction,
        }
        for a, o in zip(kept, onset, strict=True)
    ]
    return VideoClips(entry.name, waves, frames, modal, records, dict(stats))


# ---------------------------------------------------------------------------- part cache


PART_ARRAYS = ("waves", "frames", *MODE_KEYS)


def part_path(out_dir: Path, name: str) -> Path:
    """Folder of one video's cached clips: `.npy` arrays + `header.json` (written last)."""
    return out_dir / PARTS_DIR / name


def _write_part(path: Path, clips: VideoClips, fingerprint: str, signature: str) -> None:
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


def _read_part_header(path: Path) -> dict[str, Any] | None:
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


def _part_is_current(path: Path, fingerprint: str, signature: str) -> bool:
    header = _read_part_header(path) if path.is_dir() else None
    return (
        bool(header) and header["fingerprint"] == fingerprint and header["signature"] == signature
    )


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
        signature = _source_signature(entry)
        clips = prepare_video(entry, options)
        _write_part(part_path(Path(out_dir), entry.name), clips, fingerprint, signature)
        return {"name": entry.name, "ok": True, "clips": len(clips.records)}
    except PhysfoleyError as err:
        return {"name": entry.name, "ok": False, "error": str(err)}
    except Exception as err:  # a corrupt file can make any decoder raise anything
        return {"name": entry.name, "ok": False, "error": f"{type(err).__name__}: {err}"}


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
    cfg = options.config
    material_ids = {m: i for i, m in enumerate(MATERIALS)}
    splits = split_videos(names, options.test_fraction, options.seed)
    headers = {name: _read_part_header(part_path(out_dir, name)) for name in names}
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
            "frames": ((cfg.frames_per_window, cfg.image_size, cfg.image_size, 3), np.uint8),
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
        "preset": cfg.to_dict(),
        "materials": list(MATERIALS),
        "num_clips": num_clips,
        "frames_per_window": cfg.frames_per_window,
        "image_size": cfg.image_size,
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
            signature = _source_signature(entry)
        except OSError:
            signature = ""
        if signature and _part_is_current(part_path(out_dir, entry.name), fingerprint, signature):
            cached.append(entry.name)
        else:
            todo.append(entry)
    if on_start:
        on_start(len(entries), len(cached))
    results = []
    tasks = [(entry, options, str(out_dir), fingerprint) for entry in todo]
    if workers > 1 and len(tasks) > 1:
        if processes:
            import multiprocessing as mp

            from physfoley.numba_cache import warm

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
            from concurrent.futures import ThreadPoolExecutor, as_completed

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
    failed = sorted((r for r in results if not r["ok"]), key=lambda r: r["name"])
    done = sorted(cached + [r["name"] for r in results if r["ok"]])
    assembly = assemble(out_dir, done, options)
    stats: Counter[str] = Counter()
    for name in done:
        stats.update((_read_part_header(part_path(out_dir, name)) or {}).get("stats", {}))
    rows = read_index(out_dir / "index.csv")
    elapsed = time.perf_counter() - started
    new_clips = sum(r.get("clips", 0) for r in results if r["ok"])
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
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n", force=True)
    return summary


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
    "PrepareOptions",
    "add_arrays",
    "VideoClips",
    "assemble",
    "cut_clips",
    "onset_windows",
    "prepare_dataset",
    "prepare_video",
    "split_videos",
]
