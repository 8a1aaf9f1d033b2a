"""Can the brokers be reached? A bounded TCP probe the CLI runs before its first Kafka
client, so a command with the broker down fails in seconds with one line that says what to
do, instead of waiting on kafka-python's metadata retries and ending in a traceback.

Also: is a local port free (the demo refuses to start on a port someone else holds)."""

from __future__ import annotations

import socket
import time

from claimflow.settings import Settings, get_settings

UNREACHABLE_EXIT_CODE = 3


class KafkaUnreachable(RuntimeError):
    """No broker of the bootstrap list accepted a connection within the deadline."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        super().__init__(f"cannot reach Kafka at {bootstrap} — start it with `make kafka-up` or set CLAIMFLOW_KAFKA_BOOTSTRAP")


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for part in bootstrap.split(","):
        part = part.strip()
        if not part:
            continue
        host, _, port = part.rpartition(":")
        out.append((host.strip("[]") or "127.0.0.1", int(port or 9092)))
    return out


def ensure_reachable(settings: Settings | None = None, timeout: float | None = None) -> None:
    """Return once one bootstrap address accepts a TCP connection; raise KafkaUnreachable
    after ``timeout`` seconds (the ``kafka_connect_timeout_seconds`` setting by default).
    Refused connections are retried until the deadline, so a broker that is still starting
    up is waited for."""
    settings = settings or get_settings()
    timeout = settings.kafka_connect_timeout_seconds if timeout is None else timeout
    addresses = bootstrap_addresses(settings.kafka_bootstrap)
    deadline = time.monotonic() + timeout
    while True:
        for host, port in addresses:
            left = deadline - time.monotonic()
            try:
                with socket.create_connection((host, port), timeout=max(0.2, min(2.0, left))):
                    return
            except OSError:
                continue
        if time.monotonic() + 0.5 >= deadline:
            raise KafkaUnreachable(settings.kafka_bootstrap)
        time.sleep(0.5)


_preflight = {"enabled": False, "ok": set()}


def enable_preflight() -> None:
    """Turn the probe on for this process (the CLI does; services and tests don't)."""
    _preflight["enabled"] = True


def preflight(settings: Settings) -> None:
    """The probe, once per bootstrap list and process, when enabled (called by kafkaio and
    admin before they build a client)."""
    if not _preflight["enabled"] or settings.kafka_bootstrap in _preflight["ok"]:
        return
    ensure_reachable(settings)
    _preflight["ok"].add(settings.kafka_bootstrap)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port and we could bind it ourselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM binds its listeners
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
