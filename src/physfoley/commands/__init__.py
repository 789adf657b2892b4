"""Command groups of the `physfoley` CLI (see physfoley.cli)."""
