"""One entry point for both model families: a model name or directory -> the pipeline it needs.

A model directory says its family in `config.json` (`physfoley.model_dir.model_dir_family`):
"per-impact" directories load as `ImpactPipeline` (one sound per detected impact),
"diff-foley" ones as `SoundtrackPipeline` (whole soundtracks, no detector). Shipped models are
named: `small` (per-impact, the default) and `diff-foley` (the whole-soundtrack model), each a
directory under `physfoley/assets/models/`. A local directory of the same name wins over a
shipped name. Every failure is a `ModelError` with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from physfoley.errors import ModelError
from physfoley.model_dir import DIFF_FOLEY, PER_IMPACT, model_dir_family
from physfoley.pipeline import DEFAULT_MODEL_DIR, ImpactPipeline
from physfoley.soundtrack_pipeline import SoundtrackPipeline

SHIPPED_DIR = DEFAULT_MODEL_DIR.parent
#: Shipped model names -> their directories (installed with the package).
SHIPPED_MODELS = {"small": DEFAULT_MODEL_DIR, DIFF_FOLEY: SHIPPED_DIR / DIFF_FOLEY}


def resolve_model(model: str | os.PathLike | None) -> Path:
    """`None` -> the default shipped model; a shipped name (unless a local directory has that
    name) -> its directory; anything else -> the path. `ModelError` when a shipped model is not
    installed or the path does not exist."""
    if model is None:
        model = "small"
    path = Path(model)
    if str(model) in SHIPPED_MODELS and not path.exists():
        shipped = SHIPPED_MODELS[str(model)]
        if not shipped.is_dir():
            raise ModelError(
                f"the shipped {model!s} model is not installed ({shipped.name} is missing from "
                "physfoley/assets/models); train one (docs/soundtrack.md) and pass --model DIR"
            )
        return shipped
    if not path.exists():
        raise ModelError(
            f"model {model} is neither a directory nor a shipped model "
            f"({', '.join(sorted(SHIPPED_MODELS))})"
        )
    return path


def load_pipeline(
    model: str | os.PathLike | None = None, *, device: str = "cpu"
) -> ImpactPipeline | SoundtrackPipeline:
    """The pipeline of `model` (a shipped name, a directory or None for the default), chosen by
    the family its directory states."""
    path = resolve_model(model)
    family = model_dir_family(path)
    if family == DIFF_FOLEY:
        return SoundtrackPipeline.from_pretrained(path, device=device)
    if family == PER_IMPACT:
        return ImpactPipeline.from_pretrained(path, device=device)
    raise ModelError(f"{path} holds a {family!r} model, which no pipeline loads")
