"""``claimflow run SERVICE|all``: the one registry of runnable services, and the process
supervisor behind ``run all`` (one process per service, the FHIR gateway included)."""

from __future__ import annotations

import signal
import time

import click

from claimflow.cli_errors import CliError
from claimflow_app.services import ALL_SERVICES

RUNNABLE: tuple[str, ...] = ALL_SERVICES  # the registry's stream processors, then the HTTP edges


def run_help() -> str:
    return (f"Run SERVICE in the foreground, or `all`: every service as its own process "
            f"({', '.join(RUNNABLE)}).")


def check_name(service: str) -> str:
    if service != "all" and service not in RUNNABLE:
        raise CliError(f"unknown service {service!r}; choose one of: {', '.join(RUNNABLE)}, all")
    return service


def run_command(service: str) -> None:
    from claimflow.reach import ensure_reachable
    from claimflow.settings import get_settings

    check_name(service)
    settings = get_settings()
    from claimflow import security

    # fail closed first (exit 78 with a clear message when tokens or secrets are missing), then
    # fail in seconds, with one line, when the broker is down; the dev profile's warnings last
    warnings = security.checked(service, settings) if service != "all" else []
    ensure_reachable(settings)
    security.warn(warnings)
    if service == "all":
        run_all(settings)
    else:
        from claimflow_app import services

        services.run_worker(service, settings)


def wait_up(procs, settings, timeout: float = 90.0, echo=click.echo) -> None:
    """Wait for every process's /healthz, printing each service as it comes up."""
    from claimflow_app.services import wait_healthy

    waiting = list(procs)
    deadline = time.monotonic() + timeout
    while waiting:
        for p in list(waiting):
            try:
                wait_healthy(p.service, settings.port_for(p.service), host="127.0.0.1", timeout=0.5, proc=p)
            except RuntimeError as exc:
                if p.proc.poll() is not None:
                    raise CliError(str(exc)) from None
                continue
            waiting.remove(p)
            up = len(procs) - len(waiting)
            echo(f"  up {up}/{len(procs)}: {p.service} on :{settings.port_for(p.service)}"
                 + (f" (waiting for {', '.join(w.service for w in waiting)})" if waiting else ""))
        if waiting and time.monotonic() > deadline:
            raise CliError(f"not healthy after {timeout:.0f}s: {', '.join(w.service for w in waiting)}; logs in {waiting[0].log_path.parent}")


def run_all(settings) -> None:
    from claimflow_app.services import spawn

    log_dir = settings.data_dir / "logs"
    procs = [spawn(s, log_dir) for s in RUNNABLE]
    click.echo(f"started {', '.join(f'{p.service} (pid {p.proc.pid})' for p in procs)}; logs in {log_dir}")
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        wait_up(procs, settings)
        click.echo("all services up")
        while not stopping:
            for p in procs:
                if p.proc.poll() is not None:
                    click.echo(f"{p.service} exited with {p.proc.returncode}; see {p.log_path}", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        stop_all(procs)


def stop_all(procs, timeout: float = 30.0) -> None:
    """SIGTERM every service at once, then wait (SIGKILL after ``timeout``): stopping them
    one after the other would add up each worker's shutdown."""
    import subprocess

    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:  # one SIGTERM each: a second one could cut a worker's clean shutdown short
        try:
            p.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait(10)
