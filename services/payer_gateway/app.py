"""Payer gateway wiring (the X12 edge).

Outbound: ``claims.v1`` -> batches of claims -> 837P files written atomically into
``settings.x12_outbox`` (each claim id once, thanks to the file-backed submission ledger in
``settings.x12_state_dir``) -> one ``submitted`` ClaimStatusChanged per written claim on
``claims.status.v1``. Claims the writer rejects go to ``dlq.payer-gateway.v1`` (stage
``rules``) with their original bytes.

Inbound: a timer scans ``settings.x12_inbox`` for 835 / 277CA / 999 files, publishes
adjudications (``adjudications.v1``) and status events (``claims.status.v1``) keyed by
claim id, then moves the file to ``inbox/processed/``; a file that yields nothing usable
goes to ``inbox/failed/`` and its original bytes to the dead-letter topic (source topic
``file:<name>``). Parts of a file that fail (one claim, one transaction set) are
dead-lettered with their own bytes while the rest flows.

Delivery: events of a batch are acknowledged only after the 837P file is written and the
status events are acknowledged by the broker; inbox files move only after their records
are acknowledged. A crash re-sends (deterministic ids), never loses.
Logs carry coordinates, claim ids (opaque hashes), control numbers and counts only."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import faust
import yaml
from mode import CrashingSupervisor

from claimflow import metrics, topics
from claimflow.dlq import PoisonMessage, Stage, dead_letter_headers
from claimflow.ids import status_event_id
from claimflow.models import Address, Claim, ClaimState, ClaimStatusChanged
from claimflow.runtime import Output, Processor, guard_topics, make_app, mark_handled, raw_topic
from claimflow.settings import Settings, get_settings
from services.payer_gateway.importer import ParsedFile, import_path
from services.payer_gateway.metrics import X12_FILES, X12_STRUCTURAL_WARNINGS
from services.payer_gateway.state import SubmissionLedger, _locked
from services.payer_gateway.writer_837p import ExportResult, GatewayConfig, Receiver, export_claims

SERVICE = "payer-gateway"
SOURCE_SERVICE = "payer-gateway"
MAX_BATCH = 500
INBOX_MIN_AGE_SECONDS = 0.5   # a file younger than this may still be being written
SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")

log = logging.getLogger("claimflow.payer_gateway")

DEFAULT_CONFIG = {"receivers": {}, "default_receiver": None}


def gateway_config(settings: Settings) -> GatewayConfig:
    """The 837P envelope config: submitter, contact, billing address and ISA15 from the
    practice profile (``claimflow.practice``), then ``<x12_state_dir>/gateway.yaml`` when
    present (receivers per payer id; single keys may still override the profile)."""
    from claimflow import practice

    raw: dict[str, Any] = {**json.loads(json.dumps(DEFAULT_CONFIG)), **practice.load().gateway_defaults()}
    path = Path(settings.x12_state_dir) / "gateway.yaml"
    if path.exists():
        raw.update(yaml.safe_load(path.read_text()) or {})
    receivers = {pid: Receiver(**r) for pid, r in (raw.get("receivers") or {}).items()}
    default = Receiver(**raw["default_receiver"]) if raw.get("default_receiver") else None
    return GatewayConfig(
        submitter_id=raw["submitter_id"], submitter_name=raw["submitter_name"], contact_name=raw["contact_name"],
        contact_phone=str(raw["contact_phone"]), billing_address=Address(**raw["billing_address"]), receivers=receivers,
        default_receiver=default, usage_indicator=raw.get("usage_indicator", "T"),
        max_claims_per_transaction=int(raw.get("max_claims_per_transaction", 500)),
    )


# --- submitted-status bookkeeping --------------------------------------------------------


class AnnouncedStore:
    """Claim ids whose ``submitted`` status event the broker has acknowledged
    (``<state_dir>/announced.jsonl``). A claim that is in the submission ledger but not
    here (crash between file write and status delivery) gets its status re-sent, with the
    same deterministic event id, when claims.v1 delivers it again."""

    def __init__(self, state_dir: Path | str):
        self.dir = Path(state_dir)
        self.path = self.dir / "announced.jsonl"
        self.lock = self.dir / "announced.lock"
        self._ids: set[str] = set()
        self._size = -1

    def _load(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._ids, self._size = set(), 0
            return
        if size == self._size:
            return
        ids = set()
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.endswith("\n") and line.strip():  # an unterminated (torn) line never counts
                    ids.add(line.strip())
        self._ids, self._size = ids, size

    def __contains__(self, claim_id: str) -> bool:
        self._load()
        return claim_id in self._ids

    def add(self, claim_ids: list[str]) -> None:
        if not claim_ids:
            return
        with _locked(self.lock):
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                if fh.tell() > 0:  # a torn last line from a crash must not glue onto ours
                    with open(self.path, "rb") as rh:
                        rh.seek(-1, os.SEEK_END)
                        if rh.read(1) != b"\n":
                            fh.write(b"\n")
                fh.write("".join(f"{c}\n" for c in claim_ids).encode())
                fh.flush()
                os.fsync(fh.fileno())
        self._load()


def submitted_event(claim: Claim, ledger: SubmissionLedger, occurred_at: datetime) -> ClaimStatusChanged:
    rec = ledger.get(claim.claim_id)
    if rec is None:  # pragma: no cover - only called for claims the ledger holds
        raise KeyError(claim.claim_id)
    trigger = f"837:{rec.interchange}:{rec.group}:{rec.transaction}"
    return ClaimStatusChanged(
        event_id=status_event_id(claim.claim_id, trigger, ClaimState.SUBMITTED.value), claim_id=claim.claim_id,
        state=ClaimState.SUBMITTED, previous_state=ClaimState.CREATED, occurred_at=occurred_at, source_service=SOURCE_SERVICE,
        trigger_id=trigger, reason=f"837P {rec.file} to {rec.receiver}"[:500], charge=claim.total_charge,
    )


# --- batching (pure apart from the state/outbox folders) ---------------------------------


@dataclass
class BatchPlan:
    """What one batch of decoded claims turns into."""

    export: ExportResult
    announce: list[ClaimStatusChanged] = field(default_factory=list)   # submitted events to publish
    rejected: dict[str, str] = field(default_factory=dict)             # claim id -> reason (no PHI)
    failed: dict[str, str] = field(default_factory=dict)               # claim id -> exception class (writer bug)
    duplicates: list[str] = field(default_factory=list)                # already written and announced


def write_batch(claims: list[Claim], config: GatewayConfig, state_dir: Path, outbox: Path, now: datetime | None = None) -> BatchPlan:
    """Write the not-yet-written claims of a batch into 837P files and decide which
    ``submitted`` events to publish (newly written claims, and written-but-unannounced
    ones). A claim that makes the writer raise unexpectedly is isolated (the rest of the
    batch is still written) and reported in ``failed``. OSErrors propagate: the disk is
    an infrastructure problem, the batch is retried."""
    now = now or datetime.now(timezone.utc)
    try:
        export = export_claims(claims, config, state_dir, outbox, now=now)
        failed: dict[str, str] = {}
    except OSError:
        raise
    except Exception:  # noqa: BLE001 - a writer bug on one claim must not block the stream
        export, failed = ExportResult(), {}
        for claim in claims:
            try:
                one = export_claims([claim], config, state_dir, outbox, now=now)
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001
                failed[claim.claim_id] = type(exc).__name__
                continue
            export.files += one.files
            export.written += one.written
            export.duplicates += one.duplicates
            export.rejected += one.rejected
    ledger = SubmissionLedger(state_dir)
    announced = AnnouncedStore(state_dir)
    plan = BatchPlan(export=export, rejected=dict(export.rejected), failed=failed)
    by_id = {c.claim_id: c for c in claims}
    written = set(export.written)
    queued: set[str] = set()
    for cid in export.written + export.duplicates:
        if cid in queued:
            plan.duplicates.append(cid)
            continue
        if cid not in written and cid in announced:
            plan.duplicates.append(cid)
            continue
        if ledger.get(cid) is None:  # a duplicate of a claim rejected earlier in this batch
            plan.duplicates.append(cid)
            continue
        plan.announce.append(submitted_event(by_id[cid], ledger, now))
        queued.add(cid)
    return plan


# --- inbound files -----------------------------------------------------------------------


def inbox_candidates(inbox: Path, now: float | None = None) -> list[Path]:
    """Regular, non-hidden files directly in ``inbox`` old enough to be complete."""
    now = now or time.time()
    if not inbox.is_dir():
        return []
    out = []
    for p in sorted(inbox.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.name.lower().endswith(SKIP_SUFFIXES):
            continue
        try:
            if now - p.stat().st_mtime < INBOX_MIN_AGE_SECONDS:
                continue
        except FileNotFoundError:
            continue
        out.append(p)
    return out


def file_usable(parsed: ParsedFile) -> bool:
    """Whether a parsed file produced anything: else it goes to inbox/failed/ whole."""
    return bool(parsed.remittances or parsed.statuses or parsed.other_statuses or parsed.acks or parsed.claims_837)


def _unique_target(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{name}.{n}"
        n += 1
    return target


# --- the Faust app -----------------------------------------------------------------------


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    config = gateway_config(settings)
    outbox, inbox, state_dir = Path(settings.x12_outbox), Path(settings.x12_inbox), Path(settings.x12_state_dir)
    for d in (outbox, inbox, state_dir):
        d.mkdir(parents=True, exist_ok=True)
    batch_seconds = max(0.05, float(settings.x12_batch_seconds))
    loop_lock = asyncio.Lock()

    async def produce(outputs: list[Output]) -> None:
        """Encode, send and wait until the broker acknowledged every output."""
        pending = []
        for topic, key, body in processor.encode(outputs):
            pending.append(await topic.send(key=key, value=body))
            metrics.RECORDS_OUT.labels(SERVICE, topic.get_topic_name()).inc()
        for fut in pending:
            await fut

    async def submit_batch(stream, events) -> None:
        started = time.perf_counter()
        decoded: list[tuple[Any, Claim]] = []
        for event in events:
            try:
                decoded.append((event, processor.decode(event.value, topics.CLAIMS, Claim)))
            except PoisonMessage as poison:
                await processor.dead_letter(event, poison)
        first_event: dict[str, Any] = {}
        for event, claim in decoded:
            first_event.setdefault(claim.claim_id, event)
        if decoded:
            loop = asyncio.get_running_loop()
            claims = [c for _, c in decoded]
            plan = await loop.run_in_executor(None, write_batch, claims, config, state_dir, outbox)
            for cid, reason in plan.rejected.items():
                await processor.dead_letter(first_event[cid], PoisonMessage(Stage.RULES, f"837P writer rejected claim: {reason}", "ClaimExportError"))
            for cid, exc_class in plan.failed.items():
                await processor.dead_letter(first_event[cid], PoisonMessage(Stage.RULES, f"{exc_class} in {SERVICE} 837P writer", exc_class))
            # a KafkaError (or a status event we cannot encode: our bug) crashes the worker before
            # the batch is acknowledged; the redelivery re-announces with the same event ids
            await produce([Output(topics.CLAIMS_STATUS, e.claim_id, e) for e in plan.announce])
            await loop.run_in_executor(None, AnnouncedStore(state_dir).add, [e.claim_id for e in plan.announce])
            for f in plan.export.files:
                X12_FILES.labels("out", "837", "written").inc()
                log.info("837P file %s written", f.name)
            n_dup = sum(1 for _, c in decoded) - len(plan.export.written) - len(plan.rejected) - len(plan.failed)
            metrics.RECORDS_IN.labels(SERVICE, "ok").inc(len(plan.export.written))
            if n_dup > 0:
                metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc(n_dup)
            log.info("claims batch %s: written=%d duplicates=%d rejected=%d failed=%d files=%d",
                     _coords(events), len(plan.export.written), max(0, n_dup), len(plan.rejected), len(plan.failed), len(plan.export.files))
        for event in events:
            mark_handled(app, event.message)
            await stream.ack(event)
        metrics.PROCESSING_SECONDS.labels(SERVICE).observe(time.perf_counter() - started)

    @app.agent(raw_topic(app, topics.CLAIMS), name="payer-gateway.claims", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def submit(stream):
        guard_topics(app, topics.CLAIMS)
        # noack_take: events are acknowledged by submit_batch once their outputs are durable
        async for events in stream.noack_take(MAX_BATCH, within=batch_seconds):
            async with loop_lock:
                await submit_batch(stream, events)

    async def dead_letter_file(name: str, data: bytes, stage: Stage, error_class: str, message: str, offset: int = -1) -> None:
        headers = dead_letter_headers(topic=f"file:{name}", partition=-1, offset=offset, service=SERVICE, stage=stage,
                                      error_class=error_class, error_message=message)
        fut = await processor.dlq.send(key=name.encode(), value=data, headers=headers)
        await fut
        metrics.DEAD_LETTERS.labels(SERVICE, stage.value).inc()
        metrics.RECORDS_IN.labels(SERVICE, "dead_lettered").inc()
        log.warning("dead-lettered file:%s offset=%d stage=%s error=%s", name, offset, stage.value, error_class)

    async def import_file(path: Path) -> None:
        loop = asyncio.get_running_loop()
        work = inbox / ".processing"
        work.mkdir(exist_ok=True)
        claimed = work / path.name
        try:
            os.rename(path, claimed)  # claim the file: another worker on this inbox skips it
        except FileNotFoundError:
            return
        name = path.name
        ledger = SubmissionLedger(state_dir)
        summary = await loop.run_in_executor(None, lambda: import_path(claimed, claims_for_set=ledger.claims_for_set,
                                                                                 strict=settings.x12_strict_envelope))
        parsed = summary.files[0] if summary.files else ParsedFile(source=name)
        data = await loop.run_in_executor(None, claimed.read_bytes)
        if not file_usable(parsed):
            reason = "; ".join(e.reason for e in parsed.errors[:3]) or f"no 835/277/999 content (kind {parsed.kind})"
            await dead_letter_file(name, data, Stage.DECODE, "X12FileError", reason)
            os.replace(claimed, _unique_target(inbox / "failed", name))
            X12_FILES.labels("in", parsed.kind, "failed").inc()
            log.warning("x12 file %s failed: kind=%s errors=%d", name, parsed.kind, len(parsed.errors))
            return
        for f in parsed.findings:
            if f.code == "ENV-SE01" and parsed.remittances:
                X12_STRUCTURAL_WARNINGS.labels(f.code).inc()
        outputs = [Output(topics.ADJUDICATIONS, a.claim_id, a) for a in parsed.adjudications]
        outputs += [Output(topics.CLAIMS_STATUS, e.claim_id, e) for e in parsed.status_events]
        await produce(outputs)
        for err in parsed.errors:  # parts that failed: their own bytes, the rest has flowed
            await dead_letter_file(name, err.raw or data, Stage.DECODE if err.level != "claim" else Stage.VALIDATE,
                                   f"X12{err.level.capitalize()}Error", err.reason, err.position or -1)
        os.replace(claimed, _unique_target(inbox / "processed", name))
        X12_FILES.labels("in", parsed.kind, "processed" if parsed.ok else "partial").inc()
        metrics.RECORDS_IN.labels(SERVICE, "ok").inc()
        log.info("x12 file %s imported: kind=%s adjudications=%d status_events=%d acks=%d errors=%d findings=%d",
                 name, parsed.kind, len(parsed.adjudications), len(parsed.status_events), len(parsed.acks),
                 len(parsed.errors), len(parsed.findings))

    recovered = False

    @app.timer(interval=max(0.5, batch_seconds), name="payer-gateway.inbox")
    async def scan_inbox():
        nonlocal recovered
        if not recovered:  # files a crashed run of this gateway had claimed are retried first
            recovered = True
            leftovers = inbox / ".processing"
            if leftovers.is_dir():
                for p in sorted(leftovers.iterdir()):
                    if p.is_file():
                        os.replace(p, inbox / p.name)
        for path in inbox_candidates(inbox):
            async with loop_lock:
                await import_file(path)

    app.claimflow_processor = processor
    return app


def _coords(events) -> str:
    if not events:
        return "-"
    first, last = events[0].message, events[-1].message
    return f"{first.topic}[{first.partition}]@{first.offset}..[{last.partition}]@{last.offset} ({len(events)})"
