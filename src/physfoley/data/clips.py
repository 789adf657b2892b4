"""One video's clips: what `physfoley data prepare` keeps of a video and how it cuts it.

For every annotated hit of one video kept by the filter (`PrepareOptions`; paper default:
action `hit`, reaction `static`, the 10 materials) `prepare_video` cuts a 0.25 s clip starting
at the annotated time (no pre-roll, zero-padded at the end, at the preset's sample rate), the
22-frame window around the onset frame (`physfoley.video.windows.onset_windows`: onset - 11 ..
onset + 11 from the video's real frame times, edge frames repeated where the window runs off
the video), and the clip's modal parameters (`physfoley.audio.analysis`). `physfoley.data.parts`
caches the result per video; `physfoley.data.prepare` runs it over a whole folder.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physfoley.audio.analysis import analyze
from physfoley.audio.params import MODE_KEYS
from physfoley.config import AudioConfig, VideoConfig, get_preset, get_video_preset
from physfoley.data.greatest_hits import VideoEntry, read_audio, read_times
from physfoley.errors import InputError
from physfoley.materials import MATERIALS
from physfoley.video.io import read_video
from physfoley.video.windows import onset_windows

#: Version of a video's cached clips (part of `PrepareOptions.fingerprint`): bump it when
#: `prepare_video` cuts differently, so that cached parts are recomputed.
PART_VERSION = 1
#: The modal-parameter arrays stored per clip, [N, K] float32 each.


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

    @property
    def video(self) -> VideoConfig:
        """Frames per window and frame size: the video preset named as the audio preset."""
        return get_video_preset(self.config.name)

    @property
    def preset_dict(self) -> dict[str, Any]:
        """Audio and video settings in one mapping, as meta.json and the part keys store them."""
        return {**self.config.to_dict(), **self.video.to_dict()}

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
            "preset": self.preset_dict,
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


def source_signature(entry: VideoEntry) -> str:
    parts = []
    for path in entry.source_paths():
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


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
    f, s, k = options.video.frames_per_window, options.video.image_size, cfg.num_freqs
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
    video = read_video(entry.video_path, size=s)
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


__all__ = [
    "PART_VERSION",
    "PrepareOptions",
    "VideoClips",
    "cut_clips",
    "modal_arrays",
    "prepare_video",
    "source_signature",
]
