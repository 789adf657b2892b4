"""`physfoley data ...`: dataset commands (SynthHits generation, Greatest Hits preparation)."""

from __future__ import annotations

import argparse
import importlib

SUBCOMMAND_MODULES = (
    "physfoley.commands.data_synth",  # data synth
    "physfoley.commands.data_prepare",  # data prepare
    "physfoley.commands.data_segments",  # data segments
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="make or prepare datasets (SynthHits, Greatest Hits layout)",
        description="Dataset commands. SynthHits writes the Greatest Hits layout; prepare turns that layout, real or synthetic, into training clips.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
