"""Presets as code: the audio, video-timing and model configs every stage reads.

`AudioConfig` (STFT, clip length) is shared by analysis, data, models and the vocoder;
`VideoConfig` says how the frame windows around an impact are cut (frames per window, frame
side, nominal frame rate); `ModelConfig` (with its parts) says everything needed to rebuild the
per-impact model's networks. `paper` is faithful to Su et al. and their public code
(REFERENCE_NOTES.md); `small` is the CPU-sized default that the shipped model is trained with.
YAML and JSON files only override fields; the video keys that older files keep in their audio
block (`frames_per_window`, `video_fps`, `image_size`) are read into `VideoConfig`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from physfoley.errors import InputError
from physfoley.materials import MATERIALS  # the paper's ten, in its order


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioConfig:
        """Inverse of `to_dict`; the video keys older files keep here (`VIDEO_KEYS`) are skipped."""
        return cls(**{k: v for k, v in data.items() if k not in VIDEO_KEYS})


@dataclass(frozen=True)
class VideoConfig:
    """How the frame window around each impact is cut (data preparation and the pipeline).

    Attributes
    ----------
    frames_per_window : int
        Frames in the window around an impact: onset - n // 2 ... onset + n - n // 2 - 1.
    video_fps : float
        Nominal frame rate of the training videos (frame times always come from the video).
    image_size : int
        Side in pixels of the square frames of a window.
    """

    frames_per_window: int = 22
    video_fps: float = 29.97
    image_size: int = 224

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The `VideoConfig` keys, which files written before it existed keep in their audio block.
VIDEO_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(VideoConfig))


PRESETS: dict[str, AudioConfig] = {
    "paper": AudioConfig(
        name="paper",
        sample_rate=44100,
        n_fft=2048,
        hop_length=256,
        num_samples=11025,
        log_mag_max=5.954,
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
    ),
}

#: Video timing of each preset (same names as `PRESETS`).
VIDEO_PRESETS: dict[str, VideoConfig] = {
    "paper": VideoConfig(image_size=224),
    "small": VideoConfig(image_size=112),
}


def get_preset(name: str | AudioConfig) -> AudioConfig:
    """Return the preset called `name` (or `name` itself if it is already a config)."""
    if isinstance(name, AudioConfig):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def get_video_preset(name: str | VideoConfig) -> VideoConfig:
    """Return the video timing of preset `name` (or `name` itself if it is already a config)."""
    if isinstance(name, VideoConfig):
        return name
    try:
        return VIDEO_PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown preset {name!r}; choose one of {sorted(VIDEO_PRESETS)}"
        ) from None


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
        elif key == "video" and isinstance(value, str):
            value = get_video_preset(value)
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


@dataclass(frozen=True)
class ResidualConfig:
    """The residual network: a spectrogram -> its noise bands' weights and decays (eq. 5-6)."""

    dim: int = 256
    depth: int = 4
    heads: int = 4
    max_decay_s: float = 0.5


@dataclass(frozen=True)
class PhysicsConfig:
    """The physics encoder: MLPs over the modal and band parameters -> mu [latent_dim]."""

    mode_hidden: tuple[int, ...] = (512, 512, 512)
    mode_out: int = 64
    band_hidden: tuple[int, ...] = (64, 64)
    band_out: int = 32
    latent_dim: int = 256


@dataclass(frozen=True)
class VisualConfig:
    """The visual encoder (ResNet + TSM over a frame window -> nu) and what part of it it sees."""

    block: str = "bottleneck"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    depths: tuple[int, ...] = (3, 4, 6, 3)
    stem_width: int = 64
    shift_div: int = 8
    feature: str = "penultimate"  # or "logits"
    num_segments: int = 22  # frames of the window the encoder sees (TSN segments)
    input_size: int | None = None  # resize frames to this square size first
    dropout: float = 0.0
    # "none": whole frames; "contact": each window cropped around the contact point found in
    # its frames (`visual_encoder.contact_crop`), side crop_size x the frame, centre
    # crop_offset x the frame height below the striker's tip.
    crop: str = "none"
    crop_size: float = 0.5
    crop_offset: float = 0.1
    # Retrieval key (`ImpactDiffusionModel.retrieval_key`): "none" = nu itself; "flip" = the mean
    # of nu and the latent of the mirrored window (test-time augmentation with the flip the
    # encoder was trained with). Only the bank search uses it; the denoiser is conditioned on nu.
    retrieval_tta: str = "none"


@dataclass(frozen=True)
class DenoiserConfig:
    """The denoiser: a 2-D U-Net or a DiT over spectrogram frames, conditioned on mu and nu."""

    kind: str = "unet2d"  # or "dit"
    unet_base: int = 64
    unet_mults: tuple[int, ...] = (1, 2, 4, 8)
    unet_blocks: int = 2
    dit_dim: int = 256
    dit_depth: int = 4
    dit_heads: int = 4
    dit_mlp_ratio: float = 4.0


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule, training objective, condition dropout and the default sampler."""

    timesteps: int = 1000
    schedule: str = "cosine"
    objective: str = "eps_l1"  # or "flow_matching"
    cond_drop_prob: float = 0.1
    sampler: str = "ancestral"  # default sampler for inference
    steps: int = 1000
    eta: float = 1.0
    guidance_scale: float = 1.0
    # Normalisation statistic: the denoiser works on spectrogram / data_scale (the RMS of the
    # training spectrograms, set by the diffusion stage), so that the data has unit scale
    # against the unit-variance noise; samples are multiplied back and clamped to [-1, 1].
    data_scale: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the per-impact model's networks (a model directory's
    config.json holds it; `physfoley.model_dir`)."""

    name: str = "paper"
    audio: AudioConfig = PRESETS["paper"]
    video: VideoConfig = VIDEO_PRESETS["paper"]
    materials: tuple[str, ...] = MATERIALS
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MODEL_PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    # CPU-sized: trains end to end (residual + visual + diffusion) in well under an hour on
    # two cores and ships in the repository (<= 30 MB).
    "small": ModelConfig(
        name="small",
        audio=PRESETS["small"],
        video=VIDEO_PRESETS["small"],
        residual=ResidualConfig(dim=128, depth=4, heads=4),
        physics=PhysicsConfig(mode_hidden=(256, 256), mode_out=64, band_hidden=(64, 64)),
        visual=VisualConfig(
            block="basic",
            widths=(16, 32, 64, 128),
            depths=(1, 1, 1, 1),
            stem_width=16,
            # 4 segments at 96 px beat 8 at 64 px on validation data (docs/results/model.md, v4)
            num_segments=4,
            input_size=96,
            dropout=0.2,
            crop="contact",
        ),
        denoiser=DenoiserConfig(
            kind="dit", dit_dim=128, dit_depth=4, dit_heads=4, dit_mlp_ratio=2.0
        ),
        diffusion=DiffusionConfig(sampler="ancestral", steps=100, guidance_scale=1.0),
    ),
}


def _tuplify(obj: Any) -> Any:
    """Turn list fields (from YAML/JSON) back into tuples, recursively."""
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = _tuplify(value)
        elif isinstance(value, list):
            changes[f.name] = tuple(value)
    return dataclasses.replace(obj, **changes)


def model_config(preset: str | ModelConfig = "small", overrides: dict | None = None) -> ModelConfig:
    """Preset by name (or a config), with `overrides` (nested dict) applied."""
    if isinstance(preset, ModelConfig):
        base = preset
    else:
        try:
            base = MODEL_PRESETS[preset]
        except KeyError:
            raise InputError(
                f"unknown model preset {preset!r}; choose one of {sorted(MODEL_PRESETS)}"
            ) from None
    return _tuplify(apply_overrides(base, _upgrade_overrides(overrides or {})))


def _upgrade_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Model overrides in today's layout, from files written before `VideoConfig` existed.

    Video keys of an `audio` block move to the `video` block (keys given there win); an audio
    preset named alone (`audio: small`) brings its video timing, as the old AudioConfig did.
    """
    audio, video = overrides.get("audio"), overrides.get("video")
    if isinstance(audio, str) and video is None and audio in VIDEO_PRESETS:
        return {**overrides, "video": audio}
    if isinstance(audio, dict) and (video is None or isinstance(video, dict)):
        legacy = {k: audio[k] for k in VIDEO_KEYS if k in audio}
        if legacy:
            audio = {k: v for k, v in audio.items() if k not in VIDEO_KEYS}
            return {**overrides, "audio": audio, "video": {**legacy, **(video or {})}}
    return overrides


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Inverse of `ModelConfig.to_dict` (unknown keys -> InputError)."""
    return _tuplify(apply_overrides(ModelConfig(), _upgrade_overrides(data)))
