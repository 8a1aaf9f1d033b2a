"""Integration fixtures: the services as real processes on the session broker
(``kafka_broker``, tests/conftest.py); see tests/harness.py."""

from __future__ import annotations

import pytest

from tests.harness import _pipeline

CORE = ("coder", "scrubber", "adjudicator")


@pytest.fixture
def pipeline(kafka_broker, tmp_path):
    """coder + scrubber + adjudicator (adjudications are published by the test)."""
    pipe = _pipeline(kafka_broker, tmp_path, CORE)
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"


@pytest.fixture
def closed_loop(kafka_broker, tmp_path):
    """coder + scrubber + payer simulator + adjudicator: the loop closes without a payer."""
    pipe = _pipeline(kafka_broker, tmp_path, CORE + ("payer-sim",))
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"
