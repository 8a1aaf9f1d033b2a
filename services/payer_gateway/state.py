"""File-backed gateway state: X12 control-number counters and the submission ledger.

Both live under a configurable state directory and survive restarts. Counter updates
are atomic (temp file + fsync + os.replace under an exclusive flock), so two writers on
the same host never hand out the same ISA13/GS06. The ledger is append-only JSON lines:
one line per claim written, with the envelope control numbers that carried it (used to
map 999 acknowledgments back onto claims and to write each claim id only once)."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_CONTROL = 999_999_999


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


@contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class ControlNumberStore:
    """Persistent counters (``isa``, ``gs``, ...) in ``<state_dir>/control_numbers.json``."""

    def __init__(self, state_dir: Path | str):
        self.dir = Path(state_dir)
        self.path = self.dir / "control_numbers.json"
        self.lock = self.dir / "control_numbers.lock"

    def _read(self) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in json.loads(self.path.read_text()).items()}
        except FileNotFoundError:
            return {}

    def peek(self, kind: str) -> int:
        """Last number handed out for ``kind`` (0 when none yet)."""
        return self._read().get(kind, 0)

    def next(self, kind: str) -> int:
        with _locked(self.lock):
            values = self._read()
            n = values.get(kind, 0) + 1
            if n > MAX_CONTROL:
                n = 1
            values[kind] = n
            atomic_write(self.path, json.dumps(values, sort_keys=True).encode())
            return n


@dataclass(frozen=True)
class SubmissionRecord:
    claim_id: str
    interchange: str   # ISA13
    group: str         # GS06
    transaction: str   # ST02
    file: str          # file name in the outbox
    receiver: str


class SubmissionLedger:
    """The persistent 'already written' set plus where each claim went."""

    def __init__(self, state_dir: Path | str):
        self.dir = Path(state_dir)
        self.path = self.dir / "submitted.jsonl"
        self.lock = self.dir / "submitted.lock"
        self._records: dict[str, SubmissionRecord] = {}
        self._loaded_size = -1

    def _load(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._records, self._loaded_size = {}, 0
            return
        if size == self._loaded_size:
            return
        records: dict[str, SubmissionRecord] = {}
        with open(self.path, "r", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = SubmissionRecord(**json.loads(line))
                except (ValueError, TypeError):
                    continue  # a torn last line after a crash: ignore it
                records.setdefault(rec.claim_id, rec)
        self._records, self._loaded_size = records, size

    def already_written(self, claim_id: str) -> bool:
        self._load()
        return claim_id in self._records

    def get(self, claim_id: str) -> SubmissionRecord | None:
        self._load()
        return self._records.get(claim_id)

    def record(self, records: list[SubmissionRecord]) -> None:
        if not records:
            return
        payload = "".join(json.dumps(r.__dict__, sort_keys=True) + "\n" for r in records).encode()
        with _locked(self.lock):
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                # a torn line from a crash would otherwise glue onto ours
                if fh.tell() > 0:
                    with open(self.path, "rb") as rh:
                        rh.seek(-1, os.SEEK_END)
                        if rh.read(1) != b"\n":
                            fh.write(b"\n")
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        self._load()

    def claims_for_set(self, group: str, transaction: str) -> list[str]:
        """Claim ids carried by 837 transaction set (GS06, ST02), e.g. for a 999."""
        self._load()
        g = group.lstrip("0")
        t = transaction.lstrip("0")
        return [r.claim_id for r in self._records.values() if r.group.lstrip("0") == g and r.transaction.lstrip("0") == t]
