"""The workbench's part of ``make demo``: projector + web app as processes, a demo coder
with a printed one-time password, and the URL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from claimflow_app.services import ServiceProcess, wait_assigned, wait_healthy
from claimflow.settings import Settings


def _spawn(args: list[str], name: str, log_dir: Path, env: dict[str, str]) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "claimflow_app.cli", *args], stdout=open(log_path, "ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **env})
    return ServiceProcess(name, proc, log_path)


def start(settings: Settings, env: dict[str, str], log_dir: Path) -> tuple[list[ServiceProcess], dict]:
    password = secrets.token_urlsafe(12)
    subprocess.run([sys.executable, "-m", "claimflow_app.cli", "users", "add", "demo", "--role", "coder", "--role", "biller",
                    "--role", "supervisor", "--role", "admin", "--password-stdin"], input=password + "\n", text=True,
                   check=True, capture_output=True, env={**os.environ, **env}, timeout=300)
    projector = _spawn(["workbench", "project"], "workbench-projector", log_dir, env)
    web = _spawn(["workbench", "serve"], "workbench-web", log_dir, env)
    wait_healthy("workbench-projector", settings.port_workbench, proc=projector, timeout=120)
    wait_assigned(projector, timeout=120)
    url = f"http://{settings.http_host}:{settings.port_workbench_web}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "login/", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    print(f"workbench: {url}  user demo, one-time password {password} (roles coder, biller, supervisor, admin; "
          "choose your own password at first login)", flush=True)
    return [projector, web], {"url": url, "user": "demo"}
