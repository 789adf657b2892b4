"""Model directories: the files a trained model lives in, read and written in one place.

A model directory holds `config.json` (format, version, the model's `family`, its config,
provenance) and `model.safetensors`, plus, written by the retrieval code, the physics bank. It
sits between training (which writes one with `save_model_dir`) and the pipeline or evaluation
(which load one with `load_model_dir`). The family says which networks the config describes:
"per-impact" (`physfoley.models.factory.ImpactDiffusionModel`, loaded here) or "diff-foley"
(whole soundtracks: one safetensors file per network part, read by `physfoley.soundtrack_dir`);
a directory written before families existed has no `family` key and reads as "per-impact".
`read_model_doc` does the checks every family shares, `model_dir_family` tells the family, and
`physfoley.families.load_pipeline` loads the pipeline a directory's family needs. A wrong,
partial or corrupt directory raises `ModelError` with a one-line message a user can act on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from physfoley import jsondoc
from physfoley.config import config_from_dict
from physfoley.errors import InputError, ModelError, OutputExistsError
from physfoley.models.factory import build_model

FORMAT = "physfoley-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: The family of the per-impact model (Su et al.), and of every directory that names none.
PER_IMPACT = "per-impact"
#: The whole-soundtrack family (Luo et al., Diff-Foley; `physfoley.soundtrack_dir`).
DIFF_FOLEY = "diff-foley"
#: Whole soundtracks steered by mass and velocity (PAVAS; `physfoley.pavas_pipeline`).
PAVAS = "pavas"
#: Every family a model directory may state, with what it holds.
FAMILY_NAMES = {
    PER_IMPACT: "one sound per detected impact (physfoley.pipeline.ImpactPipeline)",
    DIFF_FOLEY: "whole soundtracks (physfoley.soundtrack_pipeline.SoundtrackPipeline)",
    PAVAS: "whole soundtracks steered by mass and velocity (physfoley.pavas_pipeline)",
}


@dataclass(frozen=True)
class ModelFamily:
    """How to rebuild the networks of one family: its config from config.json, then the model."""

    config_from_dict: Callable[[dict[str, Any]], Any]
    build: Callable[[Any], nn.Module]


#: The families this physfoley can load, by the name a model directory states.
FAMILIES: dict[str, ModelFamily] = {
    PER_IMPACT: ModelFamily(config_from_dict=config_from_dict, build=build_model),
}


def save_model_dir(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    family: str = PER_IMPACT,
    force: bool = False,
    dtype: torch.dtype | None = None,
    extra: dict[str, Any] | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model directory atomically: config.json + model.safetensors.

    `model` is a network of `family` with its config in `model.cfg` (a dataclass with `to_dict`).

    The directory is assembled beside `path` and renamed into place, so a crash never leaves a
    partial model. `dtype` (e.g. torch.float16) stores floating weights in that type to save
    space; they are cast back to float32 on load. `extra` goes into config.json (e.g. training
    provenance); `before_commit(tmp_dir)` may add files (e.g. the physics bank) before the rename.
    """
    from safetensors.torch import save_file

    if family not in FAMILIES:
        raise InputError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
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
            "family": family,
            "config": model.cfg.to_dict(),
            "weights": WEIGHTS_FILE,
            "weights_dtype": str(dtype or torch.float32).replace("torch.", ""),
            "normalization": {
                "spectrogram": "ln(|STFT| + 1e-8) mapped from [log_mag_min, log_mag_max] to [-1, 1]",
                "physics": "fixed, from the audio preset (physfoley.models.physics_encoder)",
            },
            **(extra or {}),
        }
        (tmp / CONFIG_FILE).write_text(jsondoc.dumps(doc, indent=2))
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


def read_model_doc(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed `config.json` of a model directory of any family, checked so far as every
    family shares: the directory and its config exist, the JSON parses to an object and names a
    family this physfoley knows. `ModelError` (one line) otherwise."""
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
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise ModelError(
            f"{cfg_file} is corrupt ({err.__class__.__name__}); re-download or retrain the model"
        ) from None
    if not isinstance(doc, dict):
        raise ModelError(f"{cfg_file} is not a physfoley model config (not a JSON object)")
    family = model_family(doc)
    if family not in FAMILY_NAMES:
        raise ModelError(
            f"{path} holds a {family!r} model; this physfoley loads {', '.join(sorted(FAMILY_NAMES))}"
        )
    return doc


def model_dir_family(path: str | os.PathLike) -> str:
    """The family of the model directory at `path` ("per-impact" or "diff-foley"), checked."""
    return model_family(read_model_doc(path))


def read_model_config(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Read and validate `config.json` of a per-impact model directory -> (its family's config,
    the whole document). For "per-impact" the config is a `physfoley.config.ModelConfig`; a
    directory of another family raises `ModelError` naming the family and what loads it."""
    path = Path(path)
    doc = read_model_doc(path)
    cfg_file = path / CONFIG_FILE
    family = model_family(doc)
    if family not in FAMILIES:
        raise ModelError(
            f"{path} holds a {family!r} model ({FAMILY_NAMES[family]}), not a per-impact one; "
            "give it to `physfoley synthesize --model`"
        )
    if doc.get("format") != FORMAT:
        raise ModelError(f"{cfg_file} is not a physfoley model config (format != {FORMAT!r})")
    if doc.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has model format version {doc.get('version')}; this physfoley reads version {FORMAT_VERSION}"
        )
    try:
        cfg = FAMILIES[family].config_from_dict(doc["config"])
    except (KeyError, TypeError, InputError) as err:
        raise ModelError(f"{cfg_file} has an invalid model config: {err}") from None
    return cfg, doc


def model_family(doc: dict[str, Any]) -> str:
    """The family a model directory's config.json states ("per-impact" when it names none)."""
    return str(doc.get("family", PER_IMPACT))


def load_model_dir(
    path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Any]:
    """Load a model directory -> (model in eval mode on `device`, its config).

    For a "per-impact" directory: (`ImpactDiffusionModel`, `ModelConfig`).
    """
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
        model = FAMILIES[model_family(doc)].build(cfg)
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
