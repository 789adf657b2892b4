"""Atomic, non-clobbering output: write to a temp file beside the target, then rename.

Every file physfoley writes for a user goes through here, so a crash or a bad input never
leaves a half-written file, and an existing file is only replaced when the caller says so.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from physfoley.errors import InputError, OutputExistsError


def check_output_path(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Validate an output path before any work is done.

    Raises `OutputExistsError` when it exists and `force` is false, `InputError` when its
    folder does not exist or is not writable.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"folder {parent} is not writable; choose another output path")
    return path


def check_output_dir(path: str | os.PathLike) -> Path:
    """Validate an output folder before any work is done, creating nothing.

    The folder, or the nearest of its parents that exists when it does not, must be a folder
    this process can create files in (a real write is tried, then removed: a read-only mount
    lets root pass `os.access`). Raises `InputError` otherwise.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = path if existing == path else f"{existing} (in {path})"
        raise InputError(f"{what} exists and is not a folder; choose another output folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".physfoley-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(
            f"cannot write into {existing} ({err.strerror or err}); choose another output folder"
        ) from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` on success.

    The temp name keeps the target's suffix so that writers that infer the format from the
    extension (soundfile, matplotlib, PyAV) behave. On any exception the temp file is removed.
    """
    path = check_output_path(path, force=force)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not force and path.exists():
            raise OutputExistsError(f"{path} appeared while writing; pass --force to overwrite it")
        if tmp_path.exists():  # mkstemp makes 0600; give the user's usual permissions
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, force: bool = False) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"), force=force)
