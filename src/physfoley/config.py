"""Presets as code: audio (STFT, clip length), shared by analysis, data, models and the vocoder.

`paper` is faithful to Su et al. and their public code (REFERENCE_NOTES.md); `small` is the
CPU-sized default that the shipped model is trained with. YAML files only override fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from physfoley.errors import InputError


@dataclass(frozen=True)
class AudioConfig:
    """One audio preset.

    Attributes
    ----------
    sample_rate : int
        Hz.
    n_fft, hop_length, win_length : int
        STFT settings (Hann window, centred, zero padding).
    num_samples : int
        Clip length in samples (0.25 s).
    log_mag_min, log_mag_max : float
        Natural-log magnitude range mapped to [-1, 1] for the diffusion model
        (reference: ln 1e-8 and 5.954 for the paper preset).
    num_bands : int
        Residual noise bands (eq. 5-6).
    top_db : float
        Floor of the dB spectrogram used in modal analysis.
    """

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    num_samples: int
    log_mag_min: float = math.log(1e-8)
    log_mag_max: float = 5.954
    num_bands: int = 100
    top_db: float = 80.0
    frames_per_window: int = 22
    video_fps: float = 29.97
    image_size: int = 224

    @property
    def win_length(self) -> int:
        return self.n_fft

    @property
    def num_freqs(self) -> int:
        """Number of STFT bins, i.e. of modes (n_fft // 2 + 1)."""
        return self.n_fft // 2 + 1

    @property
    def num_frames(self) -> int:
        """Number of centred STFT frames of one clip."""
        return 1 + self.num_samples // self.hop_length

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def spec_shape(self) -> tuple[int, int]:
        """(num_freqs, num_frames) of one clip's spectrogram."""
        return (self.num_freqs, self.num_frames)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, AudioConfig] = {
    "paper": AudioConfig(
        name="paper",
        sample_rate=44100,
        n_fft=2048,
        hop_length=256,
        num_samples=11025,
        log_mag_max=5.954,
        image_size=224,
    ),
    # 22.05 kHz, 512/128: 257 x 44 spectrogram, 44 frames like the paper, 16x fewer pixels.
    "small": AudioConfig(
        name="small",
        sample_rate=22050,
        n_fft=512,
        hop_length=128,
        num_samples=5512,
        log_mag_max=math.log(256.0),
        num_bands=100,
        image_size=112,
    ),
}


def get_preset(name: str | AudioConfig) -> AudioConfig:
    """Return the preset called `name` (or `name` itself if it is already a config)."""
    if isinstance(name, AudioConfig):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def apply_overrides(obj: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of dataclass `obj` with `overrides` applied (nested dataclasses recurse).

    Unknown keys raise `InputError`, so a config key the code never reads cannot slip by.
    """
    if not dataclasses.is_dataclass(obj):
        raise TypeError("apply_overrides takes a dataclass instance")
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise InputError(
                f"unknown config key {key!r} for {type(obj).__name__}; known keys: {sorted(fields)}"
            )
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = apply_overrides(current, value)
        elif key == "audio" and isinstance(value, str):
            value = get_preset(value)
        changes[key] = value
    return dataclasses.replace(obj, **changes)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML override file; a clear `InputError` when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"config file {path} is not valid YAML: {err}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise InputError(f"config file {path} must hold a mapping of keys to values")
    return data
