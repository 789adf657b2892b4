"""Argument types the command files share: seeds, bounded numbers, torch devices.

Each is an argparse `type=`; a bad value raises `argparse.ArgumentTypeError`, which the parser
of `physfoley.cli` prints as one line (`physfoley CMD: error: argument --seed: ...`, exit 2),
like every other bad input.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

#: Seeds are what numpy and torch take without wrapping: 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1


def seed(text: str) -> int:
    """A seed: a whole number from 0 to `SEED_MAX`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"a seed is a whole number from 0 to {SEED_MAX}, got {text!r}"
        )
    return value


def number_at_least(low: float, *, above: bool = False, what: str = "") -> Callable[[str], float]:
    """A finite float >= `low` (> `low` with `above`); `what` says what the number means."""
    sign = ">" if above else ">="

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (above and value == low):
            hint = f" ({what})" if what else ""
            raise argparse.ArgumentTypeError(f"must be a number {sign} {low:g}{hint}, got {text!r}")
        return value

    return parse


def device(text: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N or mps."""
    if text == "cpu":
        return text
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(
                f"{text!r}: this torch ({torch.__version__}) sees no CUDA device; use --device cpu"
            )
        if dev.index is not None and dev.index >= count:
            raise argparse.ArgumentTypeError(
                f"{text!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: no MPS device here; use --device cpu")
    elif dev.type not in ("cuda", "mps", "cpu"):
        raise argparse.ArgumentTypeError(f"unsupported device {text!r}; use cpu, cuda or cuda:N")
    return text
