"""CLI tests run the real ``claimflow`` group in-process (click's CliRunner) with settings
taken from the environment the test sets; the settings cache and the Kafka probe flag are
reset around each test so nothing leaks into other tests."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from claimflow import reach
from claimflow.settings import get_settings


def free_port_in_range(start: int = 21120, stop: int = 21250) -> int:
    """A port of this project's test range that nothing listens on."""
    for port in range(start, stop):
        if reach.port_free(port):
            return port
    raise RuntimeError("no free port in the test range")


@pytest.fixture
def cli(monkeypatch):
    from claimflow_app.cli import main

    def invoke(*args: str, env: dict[str, str] | None = None):
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        return CliRunner().invoke(main, list(args), catch_exceptions=True)

    yield invoke
    get_settings.cache_clear()
    reach._preflight["enabled"] = False
    reach._preflight["ok"].clear()


@pytest.fixture
def dead_bootstrap():
    """host:port in the test range with nothing listening."""
    port = free_port_in_range(21200)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return f"127.0.0.1:{port}"
