"""JSON text of physfoley's documents: what `--json` prints and what reports and summaries write.

Python's `json` writes a NaN or an infinity as the bare words `NaN` and `Infinity`, which no
strict JSON reader accepts. A number that is not finite (an undefined metric, a loss before the
first step) is written as `null` instead; numpy scalars and arrays are written as numbers and
lists. Every JSON document physfoley prints or writes goes through `dumps`.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None and numpy values made plain."""
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return finite(obj.tolist())  # numpy (or torch) scalars and arrays
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` of `finite(obj)`: valid JSON whatever the numbers (NaN and inf -> null)."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)
