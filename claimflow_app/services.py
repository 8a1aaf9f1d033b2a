"""The service registry: every service by name, imported explicitly (no discovery), and
starting services as independent processes (``claimflow run all``, the demo, e2e tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from claimflow.settings import Settings, get_settings


def _coder(settings: Settings):
    from services.coder.app import build_app

    return build_app(settings)


def _scrubber(settings: Settings):
    from services.scrubber.app import build_app

    return build_app(settings)


def _adjudicator(settings: Settings):
    from services.adjudicator.app import build_app

    return build_app(settings)


def _payer_sim(settings: Settings):
    from services.payer_sim.app import build_app

    return build_app(settings)


def _payer_gateway(settings: Settings):
    from services.payer_gateway.app import build_app

    return build_app(settings)


def _run_fhir_gateway(settings: Settings) -> None:
    from services.fhir_gateway.app import run_gateway

    run_gateway(settings)


# Faust stream processors (each with its dead-letter topic), in pipeline order; the service
# modules are imported only when that service is built, so `claimflow run coder` loads no
# other service's reference data.
APP_BUILDERS: dict[str, Callable[[Settings], object]] = {
    "coder": _coder,
    "scrubber": _scrubber,
    "adjudicator": _adjudicator,
    "payer-sim": _payer_sim,
    "payer-gateway": _payer_gateway,
}
SERVICES = tuple(APP_BUILDERS)
# services that are not Faust apps: name -> run(settings) until stopped
GATEWAYS: dict[str, Callable[[Settings], None]] = {"fhir-gateway": _run_fhir_gateway}
ALL_SERVICES = (*SERVICES, *GATEWAYS)


def build_service_app(service: str, settings: Settings | None = None):
    if service not in APP_BUILDERS:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    return APP_BUILDERS[service](settings or get_settings())


def run_worker(service: str, settings: Settings | None = None) -> None:
    """Run one service in this process until SIGTERM/SIGINT."""
    import faust

    settings = settings or get_settings()  # `claimflow run` checked the security profile first (claimflow.security.enforce)
    if service in GATEWAYS:
        GATEWAYS[service](settings)
        return
    app = build_service_app(service, settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


@dataclass
class ServiceProcess:
    service: str
    proc: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def spawn(service: str, log_dir: Path, env: dict[str, str] | None = None) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{service}.log"
    out = open(log_path, "ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "claimflow_app.cli", "run", service],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env,
    )
    return ServiceProcess(service, proc, log_path)


def wait_healthy(service: str, port: int, host: str = "127.0.0.1", timeout: float = 60.0, proc: ServiceProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{host}:{port}/healthz"
    while time.monotonic() < deadline:
        if proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"{service} exited with {proc.proc.returncode}; see {proc.log_path}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{service} not healthy on {url} after {timeout:.0f}s")


def wait_assigned(proc: ServiceProcess, timeout: float = 60.0) -> None:
    """Wait until the worker logs that it is ready (partitions assigned, tables recovered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.service} exited with {proc.proc.returncode}; see {proc.log_path}")
        text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
        if "Ready" in text:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{proc.service} not ready after {timeout:.0f}s; see {proc.log_path}")
