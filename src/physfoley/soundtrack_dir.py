"""Reading and writing model directories of the soundtrack (Diff-Foley) family.

A directory holds `config.json` and one safetensors file per network part:

    {"family": "diff-foley", "format_version": 1, "soundtrack": {SoundtrackConfig},
     "parts": {"vae": {network config, "scale_factor": ...}, "cavp": {...}, "ldm": {...},
               "align": {...}}, "sampling": {...}, "training": {...}}

Each training stage writes one with its own part(s) (OUT/model); the `ldm` stage writes the
complete one the pipeline loads (vae, cavp, ldm and, when trained, align). The whole directory
is written into a temp folder and renamed, so a kill never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from physfoley.errors import ModelError, OutputExistsError
from physfoley.model_dir import CONFIG_FILE, DIFF_FOLEY, model_family, read_model_doc
from physfoley.models.soundtrack_factory import network_from_dict
from physfoley.soundtrack_config import SoundtrackConfig

FAMILY = DIFF_FOLEY
FORMAT_VERSION = 1


def part_file(part: str) -> str:
    return f"{part}.safetensors"


def write_model_dir(
    out_dir: str | os.PathLike,
    *,
    soundtrack: SoundtrackConfig,
    parts: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]],
    extra: dict[str, Any] | None = None,
    force: bool = False,
    family: str = FAMILY,
) -> Path:
    """Write `parts` (name -> (state dict, config dict)) and config.json into `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    doc = {
        "family": family,
        "format_version": FORMAT_VERSION,
        "soundtrack": soundtrack.to_dict(),
        "parts": {name: cfg for name, (_, cfg) in parts.items()},
        **(extra or {}),
    }
    for name, (state, _) in parts.items():
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        save_file(tensors, str(tmp / part_file(name)))
    (tmp / CONFIG_FILE).write_text(json.dumps(doc, indent=1))
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def read_config(model_dir: str | os.PathLike, family: str = FAMILY) -> dict[str, Any]:
    """config.json of a soundtrack model directory; `ModelError` (one line) when it is missing,
    corrupt, of another family or lacks its parts (the shared checks: `model_dir.read_model_doc`)."""
    doc = read_model_doc(model_dir)
    found = model_family(doc)
    if found != family:
        raise ModelError(
            f"{model_dir} is a {found!r} model, not a {family!r} one; "
            "load it with `physfoley.families.load_pipeline`"
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{model_dir} has soundtrack model format {doc.get('format_version')}; "
            f"this physfoley reads {FORMAT_VERSION}"
        )
    if not isinstance(doc.get("parts"), dict) or not isinstance(doc.get("soundtrack"), dict):
        raise ModelError(
            f"{Path(model_dir) / CONFIG_FILE} lacks 'parts' or 'soundtrack'; the model directory is corrupt"
        )
    return doc


def load_part(
    model_dir: str | os.PathLike, part: str, doc: dict[str, Any] | None = None
) -> nn.Module:
    """Build network `part` from the directory's config and load its weights (eval mode, CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    doc = doc or read_config(model_dir)
    if part not in doc["parts"]:
        raise ModelError(f"{model_dir} has no {part!r} network (parts: {sorted(doc['parts'])})")
    net_doc = {k: v for k, v in doc["parts"][part].items() if k not in PART_EXTRAS}
    try:
        sound = SoundtrackConfig.from_dict(doc["soundtrack"])
        module = network_from_dict(part, net_doc, sound)
        state = load_file(str(Path(model_dir) / part_file(part)))
        module.load_state_dict({k: v.float() for k, v in state.items()})
    except (OSError, RuntimeError, ValueError, TypeError, SafetensorError) as err:
        reason = str(err).splitlines()[0][:200]
        raise ModelError(f"{model_dir}: cannot load the {part} network ({reason})") from None
    return module.eval()


def load_state(model_dir: str | os.PathLike, part: str) -> dict[str, torch.Tensor]:
    """The raw weights of `part` (to bundle a stage's network into the final directory)."""
    from safetensors.torch import load_file

    path = Path(model_dir) / part_file(part)
    if not path.is_file():
        raise ModelError(f"{path} does not exist; train the {part} stage first")
    return load_file(str(path))


#: Keys of a part's config that are not network settings (statistics and metrics).
PART_EXTRAS = ("scale_factor", "metrics", "preset")
