from __future__ import annotations

import pytest

from services.scrubber.history import InMemoryClaimHistory
from services.scrubber.logic import Scrubber, ScrubReference

from .scrub_helpers import NOW


@pytest.fixture(scope="session")
def ref() -> ScrubReference:
    return ScrubReference.load()


@pytest.fixture(scope="session")
def scrubber(ref) -> Scrubber:
    return Scrubber(ref)


@pytest.fixture
def history() -> InMemoryClaimHistory:
    return InMemoryClaimHistory()


@pytest.fixture
def run(scrubber):
    """run(coded, family=None, history=None, now=NOW) -> findings (of one family if given)."""
    def _run(coded, family=None, history=None, now=NOW):
        result = scrubber.scrub(coded, history or InMemoryClaimHistory(), now)
        fs = list(result.findings)
        return [f for f in fs if family is None or f.family == family]
    return _run
