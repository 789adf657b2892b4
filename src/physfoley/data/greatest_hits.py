"""The Greatest Hits layout (Owens et al. 2016), real or SynthHits: find videos, parse annotations, read audio.

Per video NAME a folder holds `NAME_denoised.mp4`, `NAME_times.txt` (one hit per line:
`time material action reaction`, space-separated) and usually `NAME_denoised.wav`; without
the wav the sound is read from the mp4's audio track. SynthHits adds `NAME_physics.json`.
This module only reads; `physfoley.data.clips` cuts clips from what it returns.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physfoley.audio.io import load_audio
from physfoley.errors import InputError

VIDEO_SUFFIX = "_denoised.mp4"
WAV_SUFFIX = "_denoised.wav"
TIMES_SUFFIX = "_times.txt"
PHYSICS_SUFFIX = "_physics.json"


@dataclass(frozen=True)
class Annotation:
    """One line of NAME_times.txt. `line` is its 1-based line number in the file."""

    time_s: float
    material: str
    action: str
    reaction: str
    line: int


@dataclass(frozen=True)
class VideoEntry:
    """The files of one video NAME; any of them may be missing (None)."""

    name: str
    video_path: Path | None
    wav_path: Path | None
    times_path: Path | None
    physics_path: Path | None = None

    def source_paths(self) -> list[Path]:
        return [p for p in (self.video_path, self.wav_path, self.times_path) if p is not None]


def parse_times(text: str, *, source: str = "<times>") -> list[Annotation]:
    """Parse the text of a NAME_times.txt.

    Blank lines and lines starting with `#` are skipped. Every other line must be
    `time material action reaction` (whitespace-separated; time a finite number >= 0 in
    seconds); anything else raises `InputError` naming `source` and the line number.
    Labels are lower-cased; the real dataset's `None` labels are kept as "none".
    """
    annotations: list[Annotation] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4:
            raise InputError(
                f"{source} line {number}: expected 4 fields 'time material action reaction', "
                f"got {len(parts)}: {line!r}"
            )
        try:
            time_s = float(parts[0])
        except ValueError:
            time_s = math.nan
        if not math.isfinite(time_s) or time_s < 0:
            raise InputError(
                f"{source} line {number}: time {parts[0]!r} is not a number of seconds >= 0"
            )
        material, action, reaction = (p.lower() for p in parts[1:])
        annotations.append(Annotation(time_s, material, action, reaction, number))
    return annotations


def read_times(path: str | os.PathLike) -> list[Annotation]:
    """Read and parse NAME_times.txt (see `parse_times`); `InputError` when unreadable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable text file ({type(err).__name__})") from None
    return parse_times(text, source=str(path))


def discover_videos(root: str | os.PathLike) -> list[VideoEntry]:
    """Every video NAME in folder `root` (not recursive), sorted by name.

    A NAME is any prefix of a `NAME_denoised.mp4` or a `NAME_times.txt`; entries missing one
    of the two are returned too (with None) so that the caller can report them.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give the folder holding NAME_denoised.mp4 files")
    names: set[str] = set()
    for path in root.iterdir():
        for suffix in (VIDEO_SUFFIX, TIMES_SUFFIX):
            if path.name.endswith(suffix) and len(path.name) > len(suffix):
                names.add(path.name[: -len(suffix)])
    if not names:
        raise InputError(
            f"{root} holds no NAME_denoised.mp4 / NAME_times.txt files (Greatest Hits layout)"
        )

    def existing(name: str, suffix: str) -> Path | None:
        path = root / f"{name}{suffix}"
        return path if path.is_file() else None

    return [
        VideoEntry(
            name=name,
            video_path=existing(name, VIDEO_SUFFIX),
            wav_path=existing(name, WAV_SUFFIX),
            times_path=existing(name, TIMES_SUFFIX),
            physics_path=existing(name, PHYSICS_SUFFIX),
        )
        for name in sorted(names)
    ]


def read_mp4_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream of a video as mono float32 at `sample_rate`.

    Sample 0 is at presentation time 0: a stream that starts later is zero-padded in front,
    one that starts earlier (encoder priming) is trimmed. Returns np.ndarray[N] float32.
    """
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except Exception as err:
        raise InputError(f"{path} is not a readable video file ({type(err).__name__})") from None
    with container:
        if not container.streams.audio:
            raise InputError(
                f"{path} has no audio track and there is no {path.name.replace(VIDEO_SUFFIX, WAV_SUFFIX)}"
            )
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        start_s: float | None = None
        try:
            for frame in container.decode(stream):
                if start_s is None and frame.time is not None:
                    start_s = float(frame.time)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as err:
            if not chunks:
                raise InputError(
                    f"{path}: audio could not be decoded ({type(err).__name__}); the file may be corrupt"
                ) from None
    if not chunks:
        raise InputError(f"{path} has an empty audio track")
    wave = np.concatenate(chunks).astype(np.float32, copy=False)
    offset = int(round((start_s or 0.0) * sample_rate))
    if offset > 0:
        wave = np.concatenate([np.zeros(offset, np.float32), wave])
    elif offset < 0:
        wave = wave[-offset:]
    if not np.all(np.isfinite(wave)):
        raise InputError(f"{path}: audio track holds NaN or infinite samples")
    return wave


def read_audio(entry: VideoEntry, sample_rate: int) -> tuple[np.ndarray, str]:
    """The sound of video `entry` as mono float32 [N] at `sample_rate`, and where it came from.

    From NAME_denoised.wav when present, else from NAME_denoised.mp4's audio track.
    Returns (wave, "wav" | "mp4").
    """
    if entry.wav_path is not None:
        wave, _ = load_audio(entry.wav_path, sample_rate, allow_silent=True)
        return wave, "wav"
    if entry.video_path is None:
        raise InputError(f"video {entry.name} has neither {WAV_SUFFIX} nor {VIDEO_SUFFIX}")
    return read_mp4_audio(entry.video_path, sample_rate), "mp4"
