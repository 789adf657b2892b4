"""Model presets, construction and the self-describing model directory.

`ModelConfig` (dataclasses, presets `paper` and `small`; YAML/JSON only override fields) says
everything needed to rebuild the networks. `ImpactDiffusionModel` bundles what inference needs:
the visual encoder (frames -> nu), the physics encoder (physics parameters -> mu) and the
denoiser (x_t, t | mu, nu -> noise). A model directory holds `config.json` and
`model.safetensors` (plus, written by the retrieval code, the physics bank); a wrong, partial or
corrupt directory raises `ModelError` with a message a user can act on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from physfoley.config import PRESETS, AudioConfig, apply_overrides
from physfoley.materials import MATERIALS  # the paper's ten, in its order
from physfoley.errors import InputError, ModelError, OutputExistsError
from physfoley.models.dit import FrameDiT
from physfoley.models.physics_encoder import PhysicsEncoder
from physfoley.models.residual_encoder import ResidualEncoder
from physfoley.models.unet2d import UNet2D
from physfoley.models.visual_encoder import VisualEncoder, contact_crop, segment_indices

FORMAT = "physfoley-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class ResidualConfig:
    dim: int = 256
    depth: int = 4
    heads: int = 4
    max_decay_s: float = 0.5


@dataclass(frozen=True)
class PhysicsConfig:
    mode_hidden: tuple[int, ...] = (512, 512, 512)
    mode_out: int = 64
    band_hidden: tuple[int, ...] = (64, 64)
    band_out: int = 32
    latent_dim: int = 256


@dataclass(frozen=True)
class VisualConfig:
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
    name: str = "paper"
    audio: AudioConfig = PRESETS["paper"]
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
    return _tuplify(apply_overrides(base, overrides or {}))


class ImpactDiffusionModel(nn.Module):
    """Visual encoder + physics encoder + denoiser (what inference needs).

    `visual_latent(frames)` -> nu, `physics_latent(physics)` -> mu,
    `forward(x_t, t, cond, drop)` -> predicted noise (or velocity, per the objective).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.visual = build_visual_encoder(cfg)
        self.physics = build_physics_encoder(cfg)
        p = cfg.physics
        cond_dims = {"mu": p.latent_dim, "nu": self.visual.latent_dim}
        self.denoiser = build_denoiser(cfg, cond_dims)

    @property
    def spec_shape(self) -> tuple[int, int, int]:
        """(1, F, T) of one generated spectrogram."""
        return (1, *self.cfg.audio.spec_shape)

    def visual_frames(self, frames: Tensor) -> Tensor:
        """What the visual encoder looks at: the window, cropped around its contact point when
        `cfg.visual.crop == "contact"`. frames: Tensor[B, W, H, W', 3] -> Tensor[B, W, h, w, 3]."""
        return window_view(frames, self.cfg.visual)

    def visual_latent(self, frames: Tensor) -> Tensor:
        """frames: Tensor[B, W, H, W, 3] uint8 window (W frames) -> nu Tensor[B, D].

        The window is cropped first (`visual_frames`); the encoder then sees the centre frame
        of each of `cfg.visual.num_segments` equal segments.
        """
        return self.visual.latent(self._encoder_input(frames))

    def _encoder_input(self, frames: Tensor) -> Tensor:
        """Tensor[B, W, H, W', 3] window -> the cropped segment frames Tensor[B, S, h, w, 3]."""
        frames = self.visual_frames(frames)
        idx = segment_indices(frames.shape[1], self.cfg.visual.num_segments).to(frames.device)
        return frames.index_select(1, idx)

    def physics_latent(self, physics: dict[str, Tensor]) -> Tensor:
        """Raw physics parameters (PHYSICS_KEYS, [B, K] / [B, M]) -> mu Tensor[B, latent_dim]."""
        return self.physics(physics)

    def latent_and_key(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """frames: Tensor[B, W, H, W', 3] uint8 window -> (nu Tensor[B, D], retrieval key
        Tensor[B, D]). The key is nu unless `cfg.visual.retrieval_tta == "flip"`: then the mean
        of nu and the latent of the horizontally mirrored window (one more encoder pass)."""
        x = self._encoder_input(frames)
        nu = self.visual.latent(x)
        tta = self.cfg.visual.retrieval_tta
        if tta == "none":
            return nu, nu
        if tta == "flip":  # x: [B, S, h, w, 3]; axis 3 is the width, as in training's flip
            return nu, 0.5 * (nu + self.visual.latent(x.flip(3)))
        raise InputError(f"unknown visual.retrieval_tta {tta!r}; choose 'none' or 'flip'")

    def retrieval_key(self, frames: Tensor) -> Tensor:
        """frames: Tensor[B, W, H, W', 3] uint8 -> the PhysicsBank key Tensor[B, D]."""
        return self.latent_and_key(frames)[1]

    # Names the pipeline uses.
    encode_visual = visual_latent
    encode_physics = physics_latent

    def forward(
        self, x: Tensor, t: Tensor, cond: dict[str, Tensor], drop: Tensor | None = None
    ) -> Tensor:
        """x: Tensor[B, 1, F, T], t: Tensor[B], cond {"mu", "nu"} -> Tensor[B, 1, F, T]."""
        return self.denoiser(x, t, cond, drop)


def window_view(frames: Tensor, visual: VisualConfig) -> Tensor:
    """The part of each frame window the visual encoder sees (see `VisualConfig.crop`).

    frames: Tensor[B, W, H, W', 3] uint8, frame W // 2 the contact frame -> Tensor[B, W, h, w, 3].
    """
    if visual.crop == "none":
        return frames
    if visual.crop == "contact":
        return contact_crop(frames, visual.crop_size, visual.crop_offset)
    raise InputError(f"unknown visual crop {visual.crop!r}; choose 'none' or 'contact'")


def build_visual_encoder(cfg: ModelConfig) -> VisualEncoder:
    """The ResNet + TSM visual encoder of `cfg` (classifier over `cfg.materials`)."""
    v = cfg.visual
    return VisualEncoder(
        len(cfg.materials),
        block=v.block,
        widths=v.widths,
        depths=v.depths,
        stem_width=v.stem_width,
        shift_div=v.shift_div,
        feature=v.feature,
        input_size=v.input_size,
        dropout=v.dropout,
    )


def build_physics_encoder(cfg: ModelConfig) -> PhysicsEncoder:
    """The five-MLP physics encoder of `cfg`."""
    p = cfg.physics
    return PhysicsEncoder(
        cfg.audio,
        num_bands=cfg.audio.num_bands,
        mode_hidden=p.mode_hidden,
        mode_out=p.mode_out,
        band_hidden=p.band_hidden,
        band_out=p.band_out,
        latent_dim=p.latent_dim,
    )


def build_denoiser(cfg: ModelConfig, cond_dims: dict[str, int]) -> nn.Module:
    d = cfg.denoiser
    if d.kind == "unet2d":
        return UNet2D(
            cond_dims, base=d.unet_base, mults=d.unet_mults, blocks_per_level=d.unet_blocks
        )
    if d.kind == "dit":
        f, t = cfg.audio.spec_shape
        return FrameDiT(
            f, t, cond_dims, dim=d.dit_dim, depth=d.dit_depth, heads=d.dit_heads,
            mlp_ratio=d.dit_mlp_ratio,
        )  # fmt: skip
    raise InputError(f"unknown denoiser kind {d.kind!r}; choose 'unet2d' or 'dit'")


def build_model(cfg: ModelConfig | str = "small") -> ImpactDiffusionModel:
    """Build the inference model (randomly initialised) for a config or preset name."""
    return ImpactDiffusionModel(cfg if isinstance(cfg, ModelConfig) else model_config(cfg))


def build_residual_encoder(cfg: ModelConfig) -> ResidualEncoder:
    """The residual network of `cfg` (trained in its own stage; not part of the model dir)."""
    f, t = cfg.audio.spec_shape
    r = cfg.residual
    return ResidualEncoder(
        f, t, num_bands=cfg.audio.num_bands, dim=r.dim, depth=r.depth, heads=r.heads,
        max_decay_s=r.max_decay_s,
    )  # fmt: skip


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Inverse of `ModelConfig.to_dict` (unknown keys -> InputError)."""
    return _tuplify(apply_overrides(ModelConfig(), data))


def save_model_dir(
    path: str | os.PathLike,
    model: ImpactDiffusionModel,
    *,
    force: bool = False,
    dtype: torch.dtype | None = None,
    extra: dict[str, Any] | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model directory atomically: config.json + model.safetensors.

    The directory is assembled beside `path` and renamed into place, so a crash never leaves a
    partial model. `dtype` (e.g. torch.float16) stores floating weights in that type to save
    space; they are cast back to float32 on load. `extra` goes into config.json (e.g. training
    provenance); `before_commit(tmp_dir)` may add files (e.g. the physics bank) before the rename.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {}
        for key, value in model.state_dict().items():
            value = value.detach().cpu()
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            state[key] = value.contiguous()
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": model.cfg.to_dict(),
            "weights": WEIGHTS_FILE,
            "weights_dtype": str(dtype or torch.float32).replace("torch.", ""),
            "normalization": {
                "spectrogram": "ln(|STFT| + 1e-8) mapped from [log_mag_min, log_mag_max] to [-1, 1]",
                "physics": "fixed, from the audio preset (physfoley.models.physics_encoder)",
            },
            **(extra or {}),
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(doc, indent=2))
        if before_commit is not None:
            before_commit(tmp)
        tmp.chmod(0o755)
        for child in tmp.iterdir():
            child.chmod(0o644)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_model_config(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """Read and validate `config.json` of a model directory -> (ModelConfig, the whole document)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model directory {path} does not exist")
    if not path.is_dir():
        raise ModelError(f"{path} is not a directory; give a physfoley model directory")
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise ModelError(f"{path} has no {CONFIG_FILE}; it is not a physfoley model directory")
    try:
        doc = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(
            f"{cfg_file} is corrupt ({err.__class__.__name__}); re-download or retrain the model"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{cfg_file} is not a physfoley model config (format != {FORMAT!r})")
    if doc.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has model format version {doc.get('version')}; this physfoley reads version {FORMAT_VERSION}"
        )
    try:
        cfg = config_from_dict(doc["config"])
    except (KeyError, TypeError, InputError) as err:
        raise ModelError(f"{cfg_file} has an invalid model config: {err}") from None
    return cfg, doc


def load_model_dir(
    path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> tuple[ImpactDiffusionModel, ModelConfig]:
    """Load a model directory -> (model in eval mode on `device`, its ModelConfig)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg, doc = read_model_config(path)
    weights = path / doc.get("weights", WEIGHTS_FILE)
    if not weights.is_file():
        raise ModelError(f"{path} has no {weights.name}; the model directory is incomplete")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ModelError(
            f"{weights} is corrupt or truncated ({err}); re-download or retrain the model"
        ) from None
    try:
        model = build_model(cfg)
    except (InputError, ValueError) as err:
        raise ModelError(f"{path}: cannot build the model its config describes: {err}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{weights} does not match its config: {len(missing)} missing tensors "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ModelError(
                f"{weights}: tensor {key} has shape {tuple(value.shape)}, config expects "
                f"{tuple(expected[key].shape)}"
            )
        if value.is_floating_point():
            state[key] = value.float()
    model.load_state_dict(state)
    return model.to(device).eval(), cfg
