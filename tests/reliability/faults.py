"""Shared machinery of the fault-injection tests: a paced publisher that records which
encounters the broker acknowledged, SIGKILL + restart of one service process, and the
invariant checks (one outcome per encounter, each claim id submitted once, exact ledger
totals) read back from the real topics, the 837P outbox and the adjudicator's ledger."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import producer, read_topic, topic_sizes, wait_for
from claimflow.models import EncounterEvent
from claimflow_app.services import ServiceProcess, spawn, wait_healthy
from claimflow.settings import Settings
from claimflow.synthetic import EncounterGenerator

OUTCOME_TOPICS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
DLQ_TOPICS = ("dlq.coder.v1", "dlq.scrubber.v1", "dlq.adjudicator.v1", "dlq.payer-sim.v1", "dlq.payer-gateway.v1")

# what each service writes, to see it make progress again after a restart
SERVICE_OUTPUTS = {
    "coder": (topics.ENCOUNTERS_CODED.name, topics.CODING_REVIEW.name),
    "scrubber": (topics.CLAIMS.name, topics.CLAIMS_HELD.name),
    "payer-sim": (topics.ADJUDICATIONS.name,),
    "payer-gateway": (topics.CLAIMS_STATUS.name,),
    "adjudicator": (topics.CLAIMS_STATUS.name, topics.PATIENT_BILLING.name, topics.APPEALS.name),
}


def make_encounters(n: int, seed: int) -> list[EncounterEvent]:
    gen = EncounterGenerator(seed=seed, defect_rate=0.1)
    return [gen.encounter(i)[0] for i in range(n)]


class PacedPublisher(threading.Thread):
    """Publishes encounters at ``rate`` per second with acks=all + idempotence and keeps the
    ids the broker acknowledged (a send that failed after its retries is not counted)."""

    def __init__(self, encounters: list[EncounterEvent], settings: Settings, rate: float):
        super().__init__(daemon=True)
        self.encounters = encounters
        self.settings = settings
        self.rate = rate
        self.acked: set[str] = set()
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self.sent = 0

    def run(self) -> None:
        codec = Codec()
        prod = producer(self.settings, delivery_timeout_ms=180_000, request_timeout_ms=30_000, retries=2_147_483_647)
        start = time.monotonic()
        futures = []
        try:
            for i, enc in enumerate(self.encounters):
                due = start + i / self.rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                fut = prod.send(topics.ENCOUNTERS.name, key=enc.encounter_id.encode(), value=codec.encode("EncounterEvent", enc.to_avro()))
                fut.add_callback(self._ok, enc.encounter_id)
                fut.add_errback(self._err, enc.encounter_id)
                futures.append(fut)
                self.sent = i + 1
            prod.flush(timeout=240)
        finally:
            prod.close(timeout=30)

    # kafka-python calls callback(*args, value): the encounter id comes first
    def _ok(self, eid, _meta):
        with self._lock:
            self.acked.add(eid)

    def _err(self, eid, _exc):
        with self._lock:
            self.failed.append(eid)


def _log_size(proc: ServiceProcess) -> int:
    return proc.log_path.stat().st_size if proc.log_path.exists() else 0


def wait_ready_after(proc: ServiceProcess, offset: int, timeout: float = 120.0) -> None:
    """Wait for the worker's 'Ready' line written after byte ``offset`` of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.service} exited with {proc.proc.returncode}; see {proc.log_path}")
        with proc.log_path.open("rb") as fh:
            fh.seek(offset)
            if b"Ready" in fh.read():
                return
        time.sleep(0.3)
    raise RuntimeError(f"{proc.service} not ready after {timeout:.0f}s; see {proc.log_path}")


def output_size(service: str, settings: Settings) -> int:
    return sum(topic_sizes(SERVICE_OUTPUTS[service], settings).values())


@dataclass
class Restart:
    service: str
    ready_seconds: float      # SIGKILL -> the new worker has its partitions and tables
    progress_seconds: float | None  # SIGKILL -> its output topics grow again (None: no work was left)


def _restart(procs: list[ServiceProcess], idx: int, service: str, env: dict, log_dir: Path, settings: Settings, port: int,
             log_offset: int, outputs_before: int, t0: float, progress_timeout: float) -> Restart:
    """Start ``service`` again in slot ``idx``, wait until it is ready (a 'Ready' after
    ``log_offset`` of its appended log) and until its outputs grow past ``outputs_before``;
    times count from ``t0``."""
    fresh = spawn(service, log_dir, env)
    procs[idx] = fresh
    wait_healthy(service, port, timeout=120, proc=fresh)
    wait_ready_after(fresh, log_offset, timeout=180)
    ready = time.monotonic() - t0
    deadline = time.monotonic() + progress_timeout
    while time.monotonic() < deadline:
        if output_size(service, settings) > outputs_before:
            return Restart(service, ready, time.monotonic() - t0)
        time.sleep(0.5)
    return Restart(service, ready, None)  # nothing left for it to do: progress cannot be seen


def kill_and_restart(procs: list[ServiceProcess], service: str, env: dict, log_dir: Path, settings: Settings,
                     port: int, progress_timeout: float = 60.0) -> Restart:
    """SIGKILL the running ``service`` process and start a new one with the same settings."""
    idx = next(i for i, p in enumerate(procs) if p.service == service and p.proc.poll() is None)
    before = output_size(service, settings)
    t0 = time.monotonic()
    procs[idx].kill()
    offset = _log_size(procs[idx])  # the log is appended to: only a 'Ready' after the restart counts
    return _restart(procs, idx, service, env, log_dir, settings, port, offset, before, t0, progress_timeout)


def kill_mid_batch_and_restart(procs: list[ServiceProcess], service: str, env: dict, log_dir: Path, settings: Settings,
                               port: int, batch: int = 3, timeout: float = 180.0, progress_timeout: float = 60.0) -> Restart:
    """SIGKILL the running ``service``, start it again with CLAIMFLOW_FAULT_KILL_IN_BATCH so
    that it SIGKILLs itself with its ``batch``-th batch's outputs in flight (sent, not
    acknowledged), then start it once more with the plain settings. ``ready_seconds`` and
    ``progress_seconds`` count from the in-flight kill."""
    idx = next(i for i, p in enumerate(procs) if p.service == service and p.proc.poll() is None)
    procs[idx].kill()
    faulty = spawn(service, log_dir, {**env, "CLAIMFLOW_FAULT_KILL_IN_BATCH": str(batch)})
    procs[idx] = faulty
    deadline = time.monotonic() + timeout
    while faulty.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if faulty.proc.poll() is None:
        raise RuntimeError(f"{service} did not reach a batch of two or more records in flight within {timeout:.0f}s")
    t0 = time.monotonic()
    if faulty.proc.returncode != -9:
        raise RuntimeError(f"{service} exited with {faulty.proc.returncode} instead of the injected SIGKILL; see {faulty.log_path}")
    before = output_size(service, settings)
    offset = _log_size(faulty)
    return _restart(procs, idx, service, env, log_dir, settings, port, offset, before, t0, progress_timeout)


# --- invariants -----------------------------------------------------------------------------


@dataclass
class Invariants:
    events_in: int
    outcome_of: dict[str, set[str]]              # encounter id -> outcome topics it appears on
    redelivered: int                             # extra copies of an outcome on the same topic (at-least-once)
    claim_ids: set[str]
    outbox_claims: Counter                       # claim id -> times written into 837P files
    submitted_events: Counter                    # claim id -> distinct 'submitted' status event ids
    dlq: int
    ledger_mismatches: list[str] = field(default_factory=list)
    ledger_checked: int = 0

    def lost(self, expected: set[str]) -> set[str]:
        return expected - set(self.outcome_of)

    def conflicting(self) -> list[str]:
        return [e for e, t in self.outcome_of.items() if len(t) > 1]

    def duplicated_submissions(self) -> list[str]:
        twice = {cid for cid, n in self.outbox_claims.items() if n > 1}
        twice |= {cid for cid, n in self.submitted_events.items() if n > 1}
        return sorted(twice)


CLM_RE = re.compile(rb"(?:^|~)\s*CLM\*([^*~]+)\*")


def outbox_claim_counts(outbox: Path) -> Counter:
    counts: Counter = Counter()
    if outbox.exists():
        for path in outbox.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                counts.update(m.decode() for m in CLM_RE.findall(path.read_bytes()))
    return counts


def collect(settings: Settings, expected: set[str], outbox: Path | None = None) -> Invariants:
    codec = Codec()
    outcome_of: dict[str, set[str]] = defaultdict(set)
    copies: Counter = Counter()
    claim_ids: set[str] = set()
    for spec in OUTCOME_TOPICS:
        for rec in read_topic(spec.name, settings, timeout=60):
            body = codec.decode(rec.value, spec.value)
            eid = body["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else body["encounter_id"]
            outcome_of[eid].add(spec.name)
            copies[(spec.name, eid)] += 1
            if spec is topics.CLAIMS:
                claim_ids.add(body["claim_id"])
    submitted: dict[str, set[str]] = defaultdict(set)
    for rec in read_topic(topics.CLAIMS_STATUS.name, settings, timeout=60):
        body = codec.decode(rec.value, "ClaimStatusChanged")
        if body["state"] == "submitted":
            submitted[body["claim_id"]].add(body["event_id"])
    dlq = sum(topic_sizes(DLQ_TOPICS, settings).values())
    return Invariants(
        events_in=len(expected), outcome_of=dict(outcome_of), redelivered=sum(n - 1 for n in copies.values()),
        claim_ids=claim_ids, outbox_claims=outbox_claim_counts(outbox) if outbox else Counter(),
        submitted_events=Counter({cid: len(ids) for cid, ids in submitted.items()}), dlq=dlq,
    )


def locate(settings: Settings, encounter_ids: set[str], spec=topics.ENCOUNTERS_CODED_BY_DAY) -> list[tuple[int, int, str]]:
    """(partition, offset, encounter id) of each of ``encounter_ids`` on ``spec``: where a lost
    encounter last was, to compare with the committed offsets and the services' traces."""
    codec = Codec()
    found = []
    for rec in read_topic(spec.name, settings, timeout=60):
        eid = codec.decode(rec.value, spec.value)["encounter_id"]
        if eid in encounter_ids:
            found.append((rec.partition, rec.offset, eid))
    return sorted(found)


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(group_id=group, enable_auto_commit=False, **settings.kafka_python_config())
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return {p: consumer.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        consumer.close()


def expected_ledger(settings: Settings) -> dict[str, dict[str, Decimal]]:
    """Per claim: charged and paid summed over its distinct adjudications on the topic."""
    codec = Codec()
    expected: dict[str, dict[str, Decimal]] = {}
    seen: set[str] = set()
    for rec in read_topic(topics.ADJUDICATIONS.name, settings, timeout=60):
        adj = codec.decode(rec.value, "Adjudication")
        if adj["adjudication_id"] in seen:
            continue
        seen.add(adj["adjudication_id"])
        want = expected.setdefault(adj["claim_id"], {"charged": Decimal("0.00"), "paid": Decimal("0.00")})
        want["charged"] += adj["total_charge"]
        want["paid"] += adj["paid_amount"]
    return expected


def check_ledger(inv: Invariants, settings: Settings, port: int, isolated: bool = False) -> None:
    """Every claim's ledger totals equal the sums over its distinct adjudications."""
    if isolated:
        expected = expected_ledger_isolated(settings)
    else:
        expected = expected_ledger(settings)

    def mismatch(cid: str, want: dict) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/claims/{cid}", timeout=10) as resp:
                view = json.loads(resp.read())
            got = view["totals"]
        except (urllib.error.URLError, OSError, KeyError) as exc:
            return f"{cid}: {type(exc).__name__}"
        if Decimal(got["charged"]) != want["charged"] or Decimal(got["paid"]) != want["paid"]:
            return (f"{cid}: ledger {got['charged']}/{got['paid']} != {want['charged']}/{want['paid']} "
                    f"state={view.get('state')} postings={len(view.get('postings', []))} pending={view.get('pending_remittances')}")
        return None

    bad = {cid: want for cid, want in expected.items() if mismatch(cid, want)}
    deadline = time.monotonic() + 90  # a late posting settles; a lost one does not
    while bad and time.monotonic() < deadline:
        time.sleep(5)
        bad = {cid: want for cid, want in bad.items() if mismatch(cid, want)}
    inv.ledger_mismatches = [m for m in (mismatch(cid, want) for cid, want in bad.items()) if m]
    inv.ledger_checked = len(expected)


def wait_outcomes(settings: Settings, n: int, timeout: float, sizes=None) -> bool:
    sizes = sizes or topic_sizes
    names = [t.name for t in OUTCOME_TOPICS]
    return wait_for(lambda: sum(sizes(names, settings).values()) >= n, timeout, interval=1.0)


def _run_isolated(what: str, settings: Settings, payload: dict) -> dict:
    """Run a read-back in a fresh interpreter (``python -m tests.reliability.faults``).
    After a broker restart a kafka-python 3.0 client created later in the same process was
    once seen to wait forever for metadata; a fresh process has no such history."""
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"what": what, "bootstrap": settings.kafka_bootstrap, **payload}, fh)
    proc = subprocess.run([sys.executable, "-m", "tests.reliability.faults", fh.name], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[2])
    Path(fh.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"isolated {what} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def collect_isolated(settings: Settings, expected: set[str], outbox: Path | None = None) -> Invariants:
    data = _run_isolated("collect", settings, {"expected": sorted(expected), "outbox": str(outbox) if outbox else None})
    return Invariants(events_in=data["events_in"], outcome_of={k: set(v) for k, v in data["outcome_of"].items()},
                      redelivered=data["redelivered"], claim_ids=set(data["claim_ids"]), outbox_claims=Counter(data["outbox_claims"]),
                      submitted_events=Counter(data["submitted_events"]), dlq=data["dlq"])


def sizes_isolated(names, settings: Settings) -> dict[str, int]:
    return _run_isolated("sizes", settings, {"names": list(names)})


def expected_ledger_isolated(settings: Settings) -> dict[str, dict[str, Decimal]]:
    data = _run_isolated("ledger", settings, {})
    return {cid: {k: Decimal(v) for k, v in want.items()} for cid, want in data.items()}


def _main(path: str) -> None:
    req = json.loads(Path(path).read_text())
    settings = Settings(kafka_bootstrap=req["bootstrap"])
    if req["what"] == "collect":
        inv = collect(settings, set(req["expected"]), Path(req["outbox"]) if req["outbox"] else None)
        out = {"events_in": inv.events_in, "outcome_of": {k: sorted(v) for k, v in inv.outcome_of.items()},
               "redelivered": inv.redelivered, "claim_ids": sorted(inv.claim_ids), "outbox_claims": dict(inv.outbox_claims),
               "submitted_events": dict(inv.submitted_events), "dlq": inv.dlq}
    elif req["what"] == "sizes":
        out = topic_sizes(req["names"], settings)
    else:
        out = {cid: {k: str(v) for k, v in want.items()} for cid, want in expected_ledger(settings).items()}
    print(json.dumps(out))


def wait_distinct_outcomes(settings: Settings, expected: set[str], timeout: float, collector=None) -> bool:
    """Sizes can count redelivered copies: confirm on distinct encounter ids."""
    collector = collector or collect
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sizes = sizes_isolated if collector is collect_isolated else None
        if wait_outcomes(settings, len(expected), timeout=max(1.0, deadline - time.monotonic()), sizes=sizes):
            inv = collector(settings, expected)
            if not inv.lost(expected):
                return True
        time.sleep(2.0)
    return False


def wait_quiet(settings: Settings, names: tuple[str, ...], quiet_for: float = 6.0, timeout: float = 180.0, sizes=None) -> None:
    """Wait until the given topics stop growing (downstream stages have drained)."""
    sizes = sizes or topic_sizes
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = sizes(names, settings)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(1.0)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1])
