"""Builds the four networks of the soundtrack family by part name and preset (no file access).

Parts: "vae" (`SpectrogramVAE`), "cavp" (`CAVP`), "ldm" (`LatentDiT`), "pavas" (`PavasDiT`), "align"
(`AlignClassifier`). A network config is a preset (`small` | `paper`) with overrides, and
round-trips through a plain dict (JSON) for the model directory. The CAVP embedding width is the
context width of the denoiser and the classifier, so `network_config` keeps them equal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from physfoley.errors import InputError
from physfoley.models.align_classifier import ALIGN_PRESETS, AlignClassifier
from physfoley.models.cavp import CAVP, CAVP_PRESETS, CAVPConfig
from physfoley.models.latent_dit import LDM_PRESETS, LatentDiT, LatentDiTConfig
from physfoley.models.phy_adapter import PAVAS_PRESETS, PavasDiT, PavasDiTConfig
from physfoley.models.vae import VAE_PRESETS, SpectrogramVAE, VAEConfig
from physfoley.soundtrack_config import SoundtrackConfig

PARTS = ("vae", "cavp", "ldm", "align", "pavas")
_PRESETS = {"vae": VAE_PRESETS, "cavp": CAVP_PRESETS, "ldm": LDM_PRESETS, "align": ALIGN_PRESETS,
            "pavas": PAVAS_PRESETS}  # fmt: skip


def config_from_dict(cls: type, doc: dict[str, Any]):
    """Dataclass `cls` from a JSON dict (lists back to tuples); unknown keys are errors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise InputError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(fields)}")
    values = {}
    for key, value in doc.items():
        values[key] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def _config_class(part: str) -> type:
    return {"vae": VAEConfig, "cavp": CAVPConfig, "ldm": LatentDiTConfig,
            "align": LatentDiTConfig, "pavas": PavasDiTConfig}[part]  # fmt: skip


def network_config(part: str, preset: str, overrides: dict | None = None, *, context_dim=None):
    """Preset `preset` of `part` with `overrides` applied; context_dim sets the E_v width."""
    if part not in PARTS:
        raise InputError(f"unknown network part {part!r}; choose one of {list(PARTS)}")
    if preset not in _PRESETS[part]:
        raise InputError(
            f"unknown {part} preset {preset!r}; choose one of {sorted(_PRESETS[part])}"
        )
    cfg = _PRESETS[part][preset]
    doc = {**dataclasses.asdict(cfg), **(overrides or {})}
    cfg = config_from_dict(_config_class(part), doc)
    if context_dim is not None and part in ("ldm", "align", "pavas"):
        cfg = dataclasses.replace(cfg, context={**cfg.context, "video": int(context_dim)})
    return cfg


def build_network(part: str, net_cfg, sound: SoundtrackConfig) -> nn.Module:
    """The `part` network for the timing of `sound`."""
    if part == "vae":
        if net_cfg.stride != sound.latent_stride_t or net_cfg.stride != sound.latent_stride_f:
            raise InputError(
                f"VAE compression {net_cfg.stride} does not match the {sound.name} preset's "
                f"{sound.latent_stride_f} x {sound.latent_stride_t}"
            )
        if net_cfg.latent_channels != sound.latent_channels:
            raise InputError(
                f"VAE latent channels {net_cfg.latent_channels} != {sound.latent_channels}"
            )
        return SpectrogramVAE(net_cfg)
    if part == "cavp":
        return CAVP(net_cfg)
    if part == "ldm":
        return LatentDiT(net_cfg, sound.latent_shape, sound.latent_rate_hz)
    if part == "pavas":
        return PavasDiT(net_cfg, sound.latent_shape, sound.latent_rate_hz)
    if part == "align":
        return AlignClassifier(net_cfg, sound.latent_shape, sound.latent_rate_hz)
    raise InputError(f"unknown network part {part!r}; choose one of {list(PARTS)}")


def network_from_dict(part: str, doc: dict[str, Any], sound: SoundtrackConfig) -> nn.Module:
    """Rebuild a network from the dict a model directory stores."""
    return build_network(part, config_from_dict(_config_class(part), doc), sound)
