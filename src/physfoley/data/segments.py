"""Aligned audio/frame timelines of whole videos, cut into segments for the soundtrack family.

`prepare_segments` reads a folder in the Greatest Hits layout (real or SynthHits) and writes,
per video, the whole log-mel timeline (`videos/NAME.mel.npy`, float16 [T_mel, M], time-major
so a segment is one contiguous slice) and the frames resampled to the preset's visual rate
(`videos/NAME.frames.npy`, uint8 [T_v, S, S, 3]), both memory-mappable, plus the true hit times
(from NAME_physics.json when SynthHits wrote one, else NAME_times.txt). A segment is then any
start on the latent grid (`SoundtrackConfig.latent_stride_t` mel frames), so training draws
random crops; `index.csv` lists the canonical, non-overlapping segments with their hits for
evaluation. Train/test is split by video, with the per-impact dataset's split function, so both
families see the same test videos. Work is per video and resumable (NAME.json is written last);
`SegmentData` reads the result.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physfoley.atomic import atomic_path, write_text_atomic
from physfoley.audio.mel import log_mel
from physfoley.data.greatest_hits import VideoEntry, discover_videos, read_audio, read_times
from physfoley.data.parts import split_videos
from physfoley.errors import InputError, PhysfoleyError
from physfoley.soundtrack_config import SoundtrackConfig, get_soundtrack_preset, nearest_frames
from physfoley.video.io import read_video

FORMAT_NAME = "physfoley-segments"
FORMAT_VERSION = 1
VIDEOS_DIR = "videos"
PEAK_AMPLITUDE = 0.9  # level "peak": every video's sound is scaled to this peak
LEVELS = ("peak", "recorded")
# level "recorded": SynthHits draws one random gain per video (recorded in NAME_physics.json) and
# this undoes it, so a hit's level follows its physics across videos; full scale (1.0) is this
# many dB of SynthHits' unscaled mix: the median training video then peaks near -13 dBFS and the
# loudest 5 % within +20 dB of that, inside the log-mel's range (its top is +20 dB).
SYNTHHITS_FULL_SCALE_DB = 200.0


def training_level(wave: np.ndarray, physics: dict | None, level: str) -> np.ndarray:
    """`wave` at the level the soundtrack family trains on.

    "peak": scaled to a PEAK_AMPLITUDE peak (the level carries no information);
    "recorded": as recorded, with SynthHits' per-video gain (`physics["gain"]`) undone, so loud
    hits are loud across videos (a what-if edit of speed can then move the level).
    """
    if level == "peak":
        peak = float(np.abs(wave).max()) if wave.size else 0.0
        return wave * (PEAK_AMPLITUDE / peak) if peak > 0 else wave
    if level != "recorded":
        raise InputError(f"unknown level {level!r}; use one of {list(LEVELS)}")
    gain = (physics or {}).get("gain")
    if gain is None:
        return wave
    if not (np.isfinite(gain) and gain > 0):
        raise InputError(f"the physics record's gain must be a positive number, got {gain}")
    return (wave * (10 ** (-SYNTHHITS_FULL_SCALE_DB / 20) / gain)).astype(np.float32)


@dataclass(frozen=True)
class SegmentOptions:
    """How to cut: preset (name or config), split fraction and seed, canonical segment hop."""

    preset: str | SoundtrackConfig = "small"
    test_fraction: float = 0.2
    seed: int = 0
    segment_hop_s: float | None = None  # canonical segments' hop (default: one segment)
    level: str = "peak"  # see `training_level`

    def __post_init__(self):
        if self.level not in LEVELS:
            raise InputError(f"unknown level {self.level!r}; use one of {list(LEVELS)}")

    @property
    def config(self) -> SoundtrackConfig:
        return get_soundtrack_preset(self.preset)

    def settings(self) -> dict[str, Any]:
        """What changes the per-video files (the split and the hop do not)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "preset": self.config.to_dict(),
            "level": self.level,
        }


def hit_times(entry: VideoEntry) -> tuple[np.ndarray, str]:
    """True onset times (s) of a video, sorted: SynthHits' physics record, else NAME_times.txt."""
    if entry.physics_path is not None:
        doc = json.loads(entry.physics_path.read_text())
        return np.sort(np.array([h["time_s"] for h in doc.get("hits", [])], float)), "physics"
    if entry.times_path is None:
        return np.zeros(0), "none"
    return np.sort(np.array([a.time_s for a in read_times(entry.times_path)], float)), "times"


def hit_physics(entry: VideoEntry) -> list[list[float]]:
    """SynthHits' truth per hit, [time_s, striker_mass_kg, speed_before_m_s, speed_after_m_s]
    (PAVAS trains on it); [] without a physics record."""
    if entry.physics_path is None:
        return []
    keys = ("time_s", "striker_mass_kg", "speed_before_m_s", "speed_after_m_s")
    hits = json.loads(entry.physics_path.read_text()).get("hits", [])
    return sorted([round(float(h[k]), 6) for k in keys] for h in hits if all(k in h for k in keys))


def video_timelines(
    wave: np.ndarray, frames: np.ndarray, times_s: np.ndarray, cfg: SoundtrackConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(mel float16 [T_mel, M], frames uint8 [T_v, S, S, 3]) of one whole video.

    wave : mono float32 [N] at cfg.sample_rate, at its training level (`training_level`);
    frames : decoded at cfg.image_size with their times. T_v covers every latent frame.
    """
    mel = log_mel(wave, cfg)[0].T.numpy().astype(np.float16)
    num_latent = mel.shape[0] // cfg.latent_stride_t
    count = max(cfg.num_visual_frames(len(wave) / cfg.sample_rate), cfg.visual_index(num_latent))
    return mel, frames[nearest_frames(times_s, cfg.visual_fps, count)]


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, force=True) as tmp:
        np.save(tmp, array)


def prepare_video(
    entry: VideoEntry, cfg: SoundtrackConfig, out_dir: Path, level: str = "peak"
) -> dict[str, Any]:
    """Write one video's timelines; return its record (written last as NAME.json)."""
    if entry.video_path is None:
        raise InputError(f"video {entry.name} has no NAME_denoised.mp4")
    wave, audio_source = read_audio(entry, cfg.sample_rate)
    physics = json.loads(entry.physics_path.read_text()) if entry.physics_path else None
    wave = training_level(wave, physics, level)
    video = read_video(entry.video_path, size=cfg.image_size)
    mel, frames = video_timelines(wave, video.frames, video.times_s, cfg)
    hits, hits_source = hit_times(entry)
    folder = out_dir / VIDEOS_DIR
    _save_npy(folder / f"{entry.name}.mel.npy", mel)
    _save_npy(folder / f"{entry.name}.frames.npy", frames)
    record = {
        "name": entry.name,
        "duration_s": round(len(wave) / cfg.sample_rate, 6),
        "mel_frames": int(mel.shape[0]),
        "latent_frames": int(mel.shape[0] // cfg.latent_stride_t),
        "visual_frames": int(frames.shape[0]),
        "audio_source": audio_source,
        "hits_source": hits_source,
        "hit_times_s": [round(float(t), 6) for t in hits],
        "hit_physics": hit_physics(entry),
    }
    write_text_atomic(folder / f"{entry.name}.json", json.dumps(record), force=True)
    return record


def _check_out_dir(out_dir: Path, options: SegmentOptions, force: bool) -> None:
    meta = out_dir / "meta.json"
    if not meta.is_file():
        if out_dir.exists() and any(p.name != VIDEOS_DIR for p in out_dir.iterdir()):
            raise InputError(f"{out_dir} holds other files; choose an empty or new --out")
        return
    old = {"level": "peak", **json.loads(meta.read_text())}  # folders from before `level`
    if {k: old.get(k) for k in options.settings()} != options.settings() and not force:
        raise InputError(
            f"{out_dir} was prepared with other settings; pass --force to rebuild it "
            "or choose another --out"
        )


def prepare_segments(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: SegmentOptions = SegmentOptions(),
    *,
    workers: int = 1,
    force: bool = False,
    on_start: Callable[[int, int], None] | None = None,
    on_video: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Prepare every video of `root` into `out_dir` (resumable); returns a summary dict.

    on_start(total, cached) is called once; on_video({"name", "ok", "error"}) after each video.
    """
    t0 = time.monotonic()
    cfg = options.config
    if not 0.0 <= options.test_fraction < 1.0:
        raise InputError(f"test fraction must be in [0, 1), got {options.test_fraction}")
    out_dir = Path(out_dir)
    entries = discover_videos(root)
    _check_out_dir(out_dir, options, force)
    (out_dir / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    meta_path = out_dir / "meta.json"
    if force or not meta_path.is_file():
        for stale in (out_dir / VIDEOS_DIR).glob("*.json"):
            stale.unlink()
    write_text_atomic(meta_path, json.dumps(options.settings(), indent=1), force=True)
    done = {e.name for e in entries if (out_dir / VIDEOS_DIR / f"{e.name}.json").is_file()}
    todo = [e for e in entries if e.name not in done]
    if on_start:
        on_start(len(entries), len(done))
    failed: list[dict[str, str]] = []

    def run(entry: VideoEntry) -> dict:
        try:
            prepare_video(entry, cfg, out_dir, options.level)
            return {"name": entry.name, "ok": True, "error": ""}
        except PhysfoleyError as err:
            return {"name": entry.name, "ok": False, "error": str(err)}

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for result in pool.map(run, todo):
            if not result["ok"]:
                failed.append({"video": result["name"], "error": result["error"]})
            if on_video:
                on_video(result)
    summary = _assemble(out_dir, options)
    summary.update(
        videos_cached=len(done),
        videos_prepared=len(todo) - len(failed),
        videos_failed=len(failed),
        failed=failed,
        seconds=round(time.monotonic() - t0, 2),
        out=str(out_dir),
    )
    return summary


def _assemble(out_dir: Path, options: SegmentOptions) -> dict[str, Any]:
    cfg = options.config
    records = [json.loads(p.read_text()) for p in sorted((out_dir / VIDEOS_DIR).glob("*.json"))]
    splits = split_videos([r["name"] for r in records], options.test_fraction, options.seed)
    hop = max(1, round((options.segment_hop_s or cfg.segment_s) * cfg.latent_rate_hz))
    rows = []
    for number, rec in enumerate(records):
        rec["split"] = splits[rec["name"]]
        for start in range(0, rec["latent_frames"] - cfg.latent_frames + 1, hop):
            t0 = start / cfg.latent_rate_hz
            hits = [t - t0 for t in rec["hit_times_s"] if t0 <= t < t0 + cfg.segment_s]
            rows.append(
                {
                    "video": number,
                    "name": rec["name"],
                    "split": rec["split"],
                    "start_latent": start,
                    "start_s": round(t0, 6),
                    "hits": len(hits),
                    "hit_times_s": " ".join(f"{t:.4f}" for t in hits),
                }
            )
    doc = {**options.settings(), "test_fraction": options.test_fraction, "seed": options.seed}
    write_text_atomic(out_dir / "meta.json", json.dumps(doc, indent=1), force=True)
    write_text_atomic(out_dir / "videos.json", json.dumps(records), force=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["video"])
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out_dir / "index.csv", text.getvalue(), force=True)
    per_split = {s: sum(r["split"] == s for r in records) for s in ("train", "test")}
    return {
        "videos": len(records),
        "videos_per_split": per_split,
        "segments": len(rows),
        "segments_per_split": {s: sum(r["split"] == s for r in rows) for s in ("train", "test")},
        "hits": sum(len(r["hit_times_s"]) for r in records),
        "too_short": sum(r["latent_frames"] < cfg.latent_frames for r in records),
    }


class SegmentData:
    """A prepared segments folder: per-video memory-mapped timelines and their hits.

    Segment (v, start): mel[:, 4 start : 4 start + T_mel] and frames[i0 : i0 + T_v] with
    i0 = cfg.visual_index(start) (small preset: 4 and start); see `SoundtrackConfig`.
    """

    def __init__(
        self, root: Path, cfg: SoundtrackConfig, videos: list[dict[str, Any]], level: str = "peak"
    ):
        self.root, self.cfg, self.videos = root, cfg, videos
        self.level = level  # the sound level stored (`training_level`)
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    @classmethod
    def open(cls, root: str | os.PathLike) -> SegmentData:
        root = Path(root)
        try:
            meta = json.loads((root / "meta.json").read_text())
            videos = json.loads((root / "videos.json").read_text())
        except (OSError, ValueError) as err:
            raise InputError(
                f"{root} is not a prepared segments folder ({type(err).__name__}); "
                "run `physfoley data segments ROOT --out DIR` first"
            ) from None
        if meta.get("format") != FORMAT_NAME:
            raise InputError(f"{root} is not a segments folder (format {meta.get('format')!r})")
        preset = SoundtrackConfig.from_dict(meta["preset"])
        return cls(root, preset, videos, meta.get("level", "peak"))

    def indices(self, split: str) -> np.ndarray:
        """Videos of `split` long enough for one segment: int64 [n]."""
        keep = [
            i
            for i, v in enumerate(self.videos)
            if v["split"] == split and v["latent_frames"] >= self.cfg.latent_frames
        ]
        return np.asarray(keep, dtype=np.int64)

    def _array(self, video: int, kind: str) -> np.ndarray:
        key = (video, kind)
        if key not in self._cache:
            path = self.root / VIDEOS_DIR / f"{self.videos[video]['name']}.{kind}.npy"
            self._cache[key] = np.load(path, mmap_mode="r")
        return self._cache[key]

    def mel(self, video: int) -> np.ndarray:
        """Whole-video log-mel, float16 memmap [T_mel, M]."""
        return self._array(video, "mel")

    def frames(self, video: int) -> np.ndarray:
        """Whole-video frames at the visual rate, uint8 memmap [T_v, S, S, 3]."""
        return self._array(video, "frames")

    def num_starts(self, video: int, length: int | None = None) -> int:
        """How many latent-grid starts fit a segment of `length` latent frames in `video`."""
        length = length or self.cfg.latent_frames
        return max(0, self.videos[video]["latent_frames"] - length + 1)

    def segment(
        self, video: int, start: int, length: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mel float32 [M, length r_t], frames uint8 [T_v, S, S, 3]) of the segment of
        `length` latent frames (default: the preset's) starting at latent frame `start`."""
        cfg = self.cfg
        length = length or cfg.latent_frames
        m0 = start * cfg.latent_stride_t
        mel = np.asarray(self.mel(video)[m0 : m0 + length * cfg.latent_stride_t], np.float32).T
        i0 = cfg.visual_index(start)
        count = cfg.visual_count(length)
        frames = self.frames(video)
        idx = np.minimum(np.arange(i0, i0 + count), len(frames) - 1)
        return mel, np.asarray(frames[idx])

    def batch(
        self, items: list[tuple[int, int]], length: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked segments: mel float32 [B, M, T_mel], frames uint8 [B, T_v, S, S, 3]."""
        pairs = [self.segment(v, s, length) for v, s in items]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def hits(self, video: int, start: int) -> np.ndarray:
        """True hit times (s) inside segment (video, start), relative to its start."""
        t0 = start / self.cfg.latent_rate_hz
        t = np.asarray(self.videos[video]["hit_times_s"], float) - t0
        return t[(t >= 0) & (t < self.cfg.segment_s)]

    def canonical(self, split: str) -> list[tuple[int, int]]:
        """The (video, start) pairs of index.csv for `split`."""
        with open(self.root / "index.csv", newline="") as f:
            return [
                (int(r["video"]), int(r["start_latent"]))
                for r in csv.DictReader(f)
                if r["split"] == split
            ]
