"""Shared test helpers. Shared third-party data lives beside the repo at ../shared/data."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party conformance data not present at {SHARED_DATA}")
    return SHARED_DATA
