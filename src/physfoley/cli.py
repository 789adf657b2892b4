"""`physfoley` command line: thin wrappers over the library, one module per command group.

Each module in `physfoley.commands` defines `register(subparsers)`, adding its sub-commands
with `set_defaults(func=...)`; `func(args)` returns an exit code. Human messages go to stderr,
`--json` documents to stdout. `InputError` -> exit 2 with one line; other `PhysfoleyError` -> 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from physfoley import __version__
from physfoley.errors import InputError, PhysfoleyError
from physfoley.threads import configure_threads

# Command groups, in the order `physfoley --help` lists them.
COMMAND_MODULES = (
    "physfoley.commands.audio",  # analyze, resynth, edit
    "physfoley.commands.detect",  # detect
    "physfoley.commands.physics",  # physics
    "physfoley.commands.synthesize",  # synthesize
    "physfoley.commands.demo",  # demo
    "physfoley.commands.data",  # data synth, data prepare
    "physfoley.commands.train",  # train residual|visual|diffusion
    "physfoley.commands.evaluate",  # eval
    "physfoley.commands.web",  # web
)


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr (exit 2), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="physfoley",
        description=(
            "Give silent video the sound of what is hit in it: find impacts in the picture and "
            "synthesise each one from physics (modal parameters + residual noise) with a "
            "diffusion model. Every sound can be analysed and edited as physics."
        ),
        epilog="Run `physfoley COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"physfoley {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # command group not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_threads()  # before any command imports torch (physfoley.threads)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"physfoley {args.command}: error: {err}", file=sys.stderr)
        return 2
    except PhysfoleyError as err:
        print(f"physfoley {args.command}: failed: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("physfoley: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
