"""The workbench as a user runs it, beside the pipeline on the session broker: coder +
scrubber as processes, the projector (`claimflow workbench project`) and the web app
(`claimflow workbench serve`) as processes on SQLite or on a real PostgreSQL server; a
small HTTP client with cookies and CSRF for tests that do not need a browser."""

from __future__ import annotations

import http.cookiejar
import os
import signal
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from claimflow_app.services import ServiceProcess, wait_assigned, wait_healthy
from tests.harness import Pipeline, _reset_topics

PORT_BASE = int(os.environ.get("CLAIMFLOW_TEST_PORT_BASE", "16100"))
PROJECTOR_PORT, WEB_PORT = PORT_BASE + 10, PORT_BASE + 11
PASSWORD = "correct horse battery staple"


def _spawn(args: list[str], name: str, log_dir: Path, env: dict[str, str]) -> ServiceProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    out = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "claimflow_app.cli", *args], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, **env})
    return ServiceProcess(name, proc, log_path)


@dataclass
class Stack:
    pipe: object
    env: dict[str, str]
    projector: ServiceProcess
    web: ServiceProcess
    db_url: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{WEB_PORT}"

    @property
    def settings(self):
        return self.pipe.settings

    def stop(self) -> dict:
        return stop_all([self.web, self.projector])


def stop_all(procs: list[ServiceProcess], timeout: float = 30.0) -> dict:
    """SIGTERM every process first, then wait: shutdowns overlap instead of adding up."""
    for p in procs:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGTERM)
    codes = {}
    for p in procs:  # one SIGTERM only: a second one would cut a Faust worker's clean shutdown short
        try:
            codes[p.service] = p.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            codes[p.service] = p.proc.returncode
    return codes


def start_pipeline(kafka_broker, root: Path):
    """coder + scrubber on fresh topics (shared by the SQLite and PostgreSQL stacks)."""
    pipe = Pipeline(kafka_broker, root, services=("coder", "scrubber"))
    _reset_topics(pipe.settings)
    try:
        return pipe.start()
    except BaseException:  # a service that did not come up: stop the others, leave no process behind
        stop_all(pipe.procs)
        raise


def start_stack(pipe, db_url: str, name: str, users: dict[str, tuple[str, ...]]) -> Stack:
    """Projector + web app on one database; the projector gets a consumer group of its own
    (app id prefix), so each database is built from the beginning of the topics. Users are
    added first (that also migrates the schema once, before two processes could race)."""
    env = {**pipe.env, "CLAIMFLOW_WORKBENCH_DATABASE_URL": db_url, "CLAIMFLOW_PORT_WORKBENCH": str(PROJECTOR_PORT),
           "CLAIMFLOW_PORT_WORKBENCH_WEB": str(WEB_PORT), "CLAIMFLOW_TABLE_STORE": "memory://",
           "CLAIMFLOW_APP_ID_PREFIX": f"{pipe.env['CLAIMFLOW_APP_ID_PREFIX']}-{name}",
           "CLAIMFLOW_DATA_DIR": str(pipe.root / f"data-{name}")}
    for user, roles in users.items():
        add_user(env, user, *roles)
    projector = _spawn(["workbench", "project"], f"workbench-projector-{name}", pipe.log_dir, env)
    web = _spawn(["workbench", "serve"], f"workbench-web-{name}", pipe.log_dir, env)
    try:
        wait_healthy("workbench-projector", PROJECTOR_PORT, timeout=120, proc=projector)
        wait_assigned(projector, timeout=120)
        deadline = time.monotonic() + 120
        while True:
            if web.proc.poll() is not None:
                raise RuntimeError(f"workbench web exited {web.proc.returncode}; see {web.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{WEB_PORT}/login/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"workbench web not up; see {web.log_path}")
            time.sleep(0.3)
    except BaseException:
        stop_all([web, projector])
        raise
    return Stack(pipe, env, projector, web, db_url)


def add_user(env: dict[str, str], name: str, *roles: str, forced_change: bool = False) -> None:
    """A user with PASSWORD; ``forced_change`` keeps the first-login password change (the
    tests' other users skip it so each test logs in with one request)."""
    args = [sys.executable, "-m", "claimflow_app.cli", "users", "add", name, "--password-stdin"]
    if not forced_change:
        args.append("--no-forced-change")
    for r in roles:
        args += ["--role", r]
    subprocess.run(args, input=PASSWORD + "\n", text=True, check=True, capture_output=True, env={**os.environ, **env}, timeout=300)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """A cookie-keeping HTTP client that posts forms with Django's CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path: str, data: dict | None = None, csrf: bool = True) -> tuple[int, str, str]:
        """(status, body, Location header)."""
        body = None
        headers = {}
        if data is not None:
            data = dict(data)
            if csrf:
                data["csrfmiddlewaretoken"] = self.csrf()
            body = urllib.parse.urlencode(data).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + path}
        req = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(req, timeout=90) as r:
                return r.status, r.read().decode(), r.headers.get("Location", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace"), e.headers.get("Location", "")

    def csrf(self) -> str:
        for c in self.jar:
            if c.name == "csrftoken":
                return c.value
        self.request("/login/")
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def login(self, user: str) -> None:
        self.request("/login/")
        status, body, location = self.request("/login/", {"username": user, "password": PASSWORD, "next": "/"})
        assert status == 302 and location == "/", (status, body[:300])


def hidden(body: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', body)
    assert m, f"no {name} in page"
    return m.group(1)
