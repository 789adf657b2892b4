"""Compile librosa's numba kernels once, in one process, before any parallel work.

librosa declares its gufuncs (`peak_pick`, `localmax`, ...) with `cache=True`: the first import
compiles them and writes numba's on-disk cache next to librosa's sources. numba's cache is not
safe for first-time concurrent writers: two processes compiling the same gufuncs at once can
leave `.nbc` files whose ABI tags disagree, and every later call segfaults
(https://github.com/numba/numba/issues/10128, open in numba 0.68). `make` runs `warm()` right
after installing, pytest's controller runs it before starting its workers, and physfoley runs it
before opening a process pool.
"""

from __future__ import annotations


def warm() -> None:
    """Import librosa's numba-compiled utilities in this process (compiles once, then loads)."""
    import librosa.onset  # noqa: F401  (imports librosa.util and compiles its gufuncs)
    import librosa.util  # noqa: F401


if __name__ == "__main__":
    warm()
