"""Shared test fixtures. Real data lives in ../shared/data (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
HAMMER_DIR = SHARED_DATA / "diffimpact-hammer"
GH_DEMO_DIR = SHARED_DATA / "greatest-hits-demo"


def pytest_configure(config: pytest.Config) -> None:
    """Compile librosa's numba kernels in the controller before xdist starts its workers."""
    if not hasattr(config, "workerinput"):
        from physfoley.numba_cache import warm

        warm()


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data {path} not present")
    return path


@pytest.fixture(scope="session")
def hammer_dir() -> Path:
    """Real hammer recordings (DiffImpact), 44.1 kHz."""
    return _require(HAMMER_DIR)


@pytest.fixture(scope="session")
def gh_demo_dir() -> Path:
    """Real Greatest Hits demo clips with impact_times.json."""
    return _require(GH_DEMO_DIR)
