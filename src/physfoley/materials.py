"""The material classes: one tuple that datasets label clips with and models classify into.

Su et al. keep ten of the Greatest Hits materials; a clip's `material_id` is the position of its
material in `MATERIALS`. Data preparation (`physfoley.data`), SynthHits, the model configs and
the evaluation classifier all read this one tuple, so it sits outside both `data/` and `models/`.
"""

from __future__ import annotations

#: The 10 materials kept by Su et al., in the paper's order (material_id = position).
MATERIALS: tuple[str, ...] = (
    "glass",
    "wood",
    "ceramic",
    "metal",
    "cloth",
    "plastic",
    "drywall",
    "carpet",
    "paper",
    "rock",
)
