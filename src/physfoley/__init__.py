"""physfoley: physics-driven impact sounds for silent video.

Public API (imported lazily so that `import physfoley` stays fast):

- `analyze(wave, sample_rate, ...)` -> modal parameters (eq. 1-4 of Su et al.)
- `resynthesize(params, ...)` -> waveform
- `ImpactPipeline` -> video to soundtrack
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "analyze": "physfoley.audio.analysis",
    "resynthesize": "physfoley.audio.synthesis",
    "ModalParams": "physfoley.audio.params",
    "detect_impacts": "physfoley.video.events",
    "ImpactEvent": "physfoley.video.events",
    "ImpactPipeline": "physfoley.pipeline",
    "get_preset": "physfoley.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physfoley' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
