"""Which claimflow Settings the workbench's Django side uses: ``get_settings()`` (the
environment, read once) unless a process hands it one explicitly before Django starts
(tests and benchmarks do, since their broker and database are their own)."""

from __future__ import annotations

from claimflow.settings import Settings, get_settings

_explicit: Settings | None = None


def use(settings: Settings) -> None:
    global _explicit
    _explicit = settings


def current() -> Settings:
    return _explicit or get_settings()
