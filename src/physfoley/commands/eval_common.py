"""What the `physfoley eval` command files share: the reproducing command line and the output.

Every `eval` document records the command that reproduces it, rebuilt from the parsed options
(`command_line`), and is printed by `emit`: JSON on stdout with `--json`, one line for a person
on stderr always.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

#: Where an evaluation classifier is looked for (and trained into) inside a prepared dataset.
DEFAULT_CLASSIFIER_SUBDIR = "eval_classifier"


def classifier_dir(data_root: Path, given: str | None) -> Path | str:
    """The classifier folder: `given`, else DATA/`DEFAULT_CLASSIFIER_SUBDIR`."""
    return given or data_root / DEFAULT_CLASSIFIER_SUBDIR


def option_names(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """Destinations of the --options of `parser` itself (what `command_line` writes back)."""
    return tuple(
        a.dest for a in parser._actions if a.option_strings and a.dest not in ("help", "json")
    )


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, rebuilt from the parsed options (not sys.argv,
    which is someone else's when `cli.main(argv)` is called from Python)."""
    words = ["physfoley", "eval"]
    if getattr(args, "eval_command", None):
        words.append(args.eval_command)
    for positional in ("kind", "audio_dir"):
        if getattr(args, positional, None):
            words.append(getattr(args, positional))
    for key in args.option_names:
        value = getattr(args, key, None)
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def emit(args: argparse.Namespace, doc: dict[str, Any], human: str) -> None:
    """`doc` as JSON on stdout with --json; `human` on stderr always."""
    if args.json:
        print(json.dumps(doc))
    print(human, file=sys.stderr)
