"""A real PostgreSQL server for tests and benchmarks, started the way the Kafka harness
starts its broker: Debian's ``postgresql`` binaries (installed by ``make system-deps``),
``initdb`` + ``pg_ctl`` in a temp folder on a loopback port, as the ``postgres`` user when
we are root (postgres refuses to run as root; CI runs as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_PORT = int(os.environ.get("CLAIMFLOW_TEST_PORT_BASE", "16100")) + 20


def pg_bin_dir() -> Path | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(dirs[-1]) if dirs and (Path(dirs[-1]) / "initdb").exists() else None


class LocalPostgres:
    def __init__(self, port: int = PG_PORT, root: Path | None = None):
        self.port = port
        self.bin = pg_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run `make system-deps` "
                               "(apt-get install postgresql)")
        self.root = root or Path(tempfile.mkdtemp(prefix="claimflow-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120, cwd="/")

    def start(self) -> "LocalPostgres":
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c synchronous_commit=off " \
               "-c full_page_writes=off -c max_connections=60"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts, "-w",
                  "-t", "60", "start")
        return self

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def session_postgres():
    """Generator behind the session-wide ``postgres_server`` fixture."""
    pg = LocalPostgres().start()
    try:
        yield pg
    finally:
        pg.stop()
