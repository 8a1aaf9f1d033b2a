"""The one ``/healthz`` body every service answers with, Faust workers and HTTP gateways
alike: ``{"service": "<name>", "status": "ok"}``."""

from __future__ import annotations


def health_body(service: str, status: str = "ok") -> dict[str, str]:
    return {"service": service, "status": status}
