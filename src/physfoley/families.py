"""One entry point for both model families: a model name or directory -> the pipeline it needs.

A model directory says its family in `config.json` (`physfoley.model_dir.model_dir_family`):
"per-impact" directories load as `ImpactPipeline` (one sound per detected impact),
"diff-foley" ones as `SoundtrackPipeline` (whole soundtracks, no detector), "pavas" ones as
`PavasPipeline` (whole soundtracks steered by the objects' mass and velocity). Shipped models are
named: `small` (per-impact, the default), `diff-foley` and `pavas` (the whole-soundtrack
models), each a directory under `physfoley/assets/models/`. A local directory of the same name wins over a
shipped name. Every failure is a `ModelError` with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from physfoley.errors import InputError, ModelError
from physfoley.model_dir import DIFF_FOLEY, PAVAS, PER_IMPACT, model_dir_family
from physfoley.pavas_pipeline import PavasPipeline
from physfoley.pipeline import DEFAULT_MODEL_DIR, ImpactPipeline
from physfoley.soundtrack_pipeline import SoundtrackPipeline

SHIPPED_DIR = DEFAULT_MODEL_DIR.parent
#: Shipped model names -> their directories (installed with the package).
SHIPPED_MODELS = {
    "small": DEFAULT_MODEL_DIR,
    DIFF_FOLEY: SHIPPED_DIR / DIFF_FOLEY,
    PAVAS: SHIPPED_DIR / PAVAS,
}


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
            f"model directory {model} does not exist (shipped models: "
            f"{', '.join(sorted(SHIPPED_MODELS))})"
        )
    return path


def load_pipeline(
    model: str | os.PathLike | None = None, *, device: str = "cpu"
) -> ImpactPipeline | SoundtrackPipeline:
    """The pipeline of `model` (a shipped name, a directory or None for the default), chosen by
    the family its directory states."""
    path = resolve_model(model)
    family = model_dir_family(path)
    if family == PAVAS:
        return PavasPipeline.from_pretrained(path, device=device)
    if family == DIFF_FOLEY:
        return SoundtrackPipeline.from_pretrained(path, device=device)
    if family == PER_IMPACT:
        return ImpactPipeline.from_pretrained(path, device=device)
    raise ModelError(f"{path} holds a {family!r} model, which no pipeline loads")


def sampling_options(
    pipe: ImpactPipeline | SoundtrackPipeline,
    *,
    steps: int | None = None,
    sampler: str | None = None,
    guidance: float | None = None,
    cg_scale: float | None = None,
) -> dict[str, object]:
    """The keyword options of `pipe.synthesize*` for the CLI's sampling flags, by family:
    `guidance` S is classifier-free guidance (diff-foley: omega = S - 1), `cg_scale` the
    alignment-classifier scale (diff-foley only). Unset flags are left to the model's defaults."""
    if steps is not None and steps < 1:
        raise InputError("--steps must be at least 1")
    if isinstance(pipe, SoundtrackPipeline):
        if guidance is not None and guidance < 0:
            raise InputError("--guidance must be >= 0 (1 = conditional only, 0 = unconditional)")
        if cg_scale is not None and cg_scale < 0:
            raise InputError("--cg-scale must be >= 0")
        opts = {"steps": steps, "sampler": sampler, "cg_scale": cg_scale}
        opts["cfg_scale"] = None if guidance is None else guidance - 1.0
    else:
        if cg_scale is not None:
            raise InputError("--cg-scale needs a diff-foley model; drop it for per-impact models")
        opts = {"steps": steps, "sampler": sampler, "guidance": guidance}
    return {k: v for k, v in opts.items() if v is not None}
