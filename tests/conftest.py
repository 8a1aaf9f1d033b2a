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


@pytest.fixture(scope="session")
def kafka_broker():
    """One real Kafka broker for the whole session (tests/harness.py), on
    CLAIMFLOW_TEST_KAFKA_PORT (default 19092). Started on first use only."""
    from tests.harness import session_broker

    yield from session_broker()


def pytest_sessionstart(session):
    from tests.reliability import report

    report.reset()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests.reliability import report

    rows = report.load()
    if rows:
        terminalreporter.section("reliability: faults injected")
        terminalreporter.write_line(report.table(rows))


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session (tests/pg_harness.py), on
    CLAIMFLOW_TEST_PORT_BASE + 20. Started on first use only."""
    from tests.pg_harness import session_postgres

    yield from session_postgres()
