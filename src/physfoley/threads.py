"""CPU threads for a command: as many as the machine has free, and idle threads that sleep.

Users batch their videos and a laptop is never quiet: several physfoley processes, each with
torch's default of one busy-waiting OpenMP thread per core, spin against each other and run
slower together than one after another. `configure_threads` is called by the CLI before torch
is imported. It sets, unless the user already has, OMP_WAIT_POLICY=PASSIVE and KMP_BLOCKTIME=0
(threads sleep when idle instead of spinning) and OMP_NUM_THREADS / MKL_NUM_THREADS to
`free_cpus()`: the CPUs this process may use less the current load (at least one).
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cpus() -> int:
    """`usable_cpus()` less the 1-minute load average (the CPUs other work keeps busy), >= 1."""
    cpus = usable_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(cpus, int(cpus - load + 0.5)))


def configure_threads(environ: dict | None = None) -> dict[str, str]:
    """Set the thread variables in `environ` (default: os.environ) where they are unset;
    returns the ones it set. Has no effect on a torch already imported."""
    env = os.environ if environ is None else environ
    threads = str(free_cpus())
    wanted = {
        "OMP_WAIT_POLICY": "PASSIVE",
        "KMP_BLOCKTIME": "0",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    set_now = {k: v for k, v in wanted.items() if k not in env}
    env.update(set_now)
    return set_now


__all__ = ["configure_threads", "free_cpus", "usable_cpus"]
