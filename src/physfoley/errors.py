"""Exceptions the library raises. The CLI turns `InputError` into exit 2 with one line on stderr.

Every message says what is wrong and what to do about it, in one sentence a user can act on.
"""


class PhysfoleyError(Exception):
    """Base class of every error physfoley raises on purpose."""


class InputError(PhysfoleyError):
    """Bad user input: a missing, unreadable, empty or invalid file or argument (CLI exit 2)."""


class OutputExistsError(InputError):
    """An output file exists and `--force` was not given."""


class ModelError(InputError):
    """A model directory is missing, partial, corrupt or of the wrong kind."""
