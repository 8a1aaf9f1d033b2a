"""Adjudicator service wiring.

One agent over the co-partitioned claim-keyed topics (claims.v1, claims.held.v1,
claims.status.v1, adjudications.v1, appeals.outcomes.v1), so every update of a claim's
ledger entry is serialised. Outputs: claims.status.v1 (every transition), appeals.v1
(appealable denials), claims.corrections.v1, billing.patient.v1, appeals.underpayments.v1
(paid lines whose allowed amount misses the claim's expected allowed beyond tolerance). The ``claim-ledger``
table is keyed by claim id. A timer dead-letters remittances whose claim never came."""

from __future__ import annotations

from datetime import timedelta

import faust
from mode import CrashingSupervisor

from claimflow import metrics, topics
from claimflow.dlq import Stage
from claimflow.models import Adjudication, AppealOutcome, Claim, ClaimStatusChanged, HeldClaim, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.adjudicator.logic import (
    Policy,
    Posting,
    appeal_backlog,
    underpayment_backlog,
    apply_adjudication,
    apply_appeal_outcome,
    apply_claim,
    apply_held,
    apply_status,
    expire_pending,
)

SERVICE = "adjudicator"
INPUTS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CLAIMS_STATUS, topics.ADJUDICATIONS, topics.APPEAL_OUTCOMES)


def outputs_of(posting: Posting) -> list[Output]:
    out = [Output(topics.CLAIMS_STATUS, e.claim_id, e) for e in posting.status_events]
    out += [Output(topics.APPEALS, w.claim_id, w) for w in posting.work_items]
    out += [Output(topics.CLAIMS_CORRECTIONS, c.claim_id, c) for c in posting.corrections]
    out += [Output(topics.PATIENT_BILLING, b.claim_id, b) for b in posting.patient_bills]
    out += [Output(topics.UNDERPAYMENTS, u.claim_id, u) for u in posting.underpayments]
    return out


def count(posting: Posting) -> None:
    m = posting.metrics
    # payer ids are a small, bounded set of organisations (never patient data)
    payer = str(((posting.entry or {}).get("context") or {}).get("payer_id") or "unknown")
    for state in m.adjudications:
        metrics.ADJUDICATIONS.labels(payer, state).inc()
    for group, family, disposition in m.denials:
        metrics.DENIALS.labels(payer, group, disposition).inc()
    if m.unknown_codes:
        metrics.UNKNOWN_REASON_CODES.inc(m.unknown_codes)
    for f in posting.findings:
        metrics.ADJUDICATION_FINDINGS.labels(f.code.split("-")[0]).inc()
    count_reimbursement(posting)


def count_reimbursement(posting: Posting) -> None:
    """Expected vs allowed vs paid dollars of compared lines, and underpayment items opened."""
    for result in posting.comparisons:
        payer = result.payer_id or "unknown"
        for c in result.compared:
            metrics.EXPECTED_ALLOWED_DOLLARS.labels(payer).inc(float(c.expected))
            metrics.ALLOWED_DOLLARS.labels(payer).inc(float(c.allowed))
            metrics.PAID_DOLLARS.labels(payer).inc(float(c.paid))
    for u in posting.underpayments:
        metrics.UNDERPAYMENT_DOLLARS.labels(u.payer_id, u.kind.value).inc(float(u.recoverable_amount))
        metrics.UNDERPAYMENT_ITEMS.labels(u.payer_id, u.kind.value).inc()


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    ledger = app.Table(topics.CLAIM_LEDGER.table, default=None, partitions=partitions_of(topics.CLAIM_LEDGER.source))
    policy = Policy(pending_ttl=timedelta(hours=settings.adjudicator_pending_ttl_hours))

    unmatched_sent: set[str] = set()
    underpayment_labels: set[tuple[str, str]] = set()  # (payer, kind) pairs the open-dollars gauge has shown

    async def dead_letter_unmatched(posting: Posting) -> None:
        for adj, origin in zip(posting.unmatched, posting.unmatched_origins):
            if adj.adjudication_id in unmatched_sent:
                continue
            unmatched_sent.add(adj.adjudication_id)
            metrics.UNMATCHED_REMITTANCES.inc()
            await processor.dead_letter_record(adj.claim_id, adj, Stage.RULES, "UnmatchedRemittance",
                                               "no claim arrived for this remittance within the pending time", origin)

    async def finish(claim_id: str, posting: Posting) -> Result:
        count(posting)
        await dead_letter_unmatched(posting)
        if posting.duplicate:
            metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()

        def record() -> None:
            if posting.entry is None:
                ledger.pop(claim_id, None)
            else:
                ledger[claim_id] = posting.entry

        return Result(outputs_of(posting), record)

    async def on_claim(claim: Claim, event) -> Result:
        return await finish(claim.claim_id, apply_claim(ledger.get(claim.claim_id), claim, utcnow(), policy))

    async def on_held(held: HeldClaim, event) -> Result:
        return await finish(held.claim_id, apply_held(ledger.get(held.claim_id), held, utcnow(), policy))

    async def on_status(ev: ClaimStatusChanged, event) -> Result:
        return await finish(ev.claim_id, apply_status(ledger.get(ev.claim_id), ev, utcnow(), policy))

    async def on_adjudication(adj: Adjudication, event) -> Result:
        msg = event.message
        origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        return await finish(adj.claim_id, apply_adjudication(ledger.get(adj.claim_id), adj, utcnow(), policy, origin=origin))

    async def on_outcome(outcome: AppealOutcome, event) -> Result:
        return await finish(outcome.claim_id, apply_appeal_outcome(ledger.get(outcome.claim_id), outcome, utcnow(), policy))

    handlers = {
        topics.CLAIMS.name: (topics.CLAIMS, Claim, on_claim),
        topics.CLAIMS_HELD.name: (topics.CLAIMS_HELD, HeldClaim, on_held),
        topics.CLAIMS_STATUS.name: (topics.CLAIMS_STATUS, ClaimStatusChanged, on_status),
        topics.ADJUDICATIONS.name: (topics.ADJUDICATIONS, Adjudication, on_adjudication),
        topics.APPEAL_OUTCOMES.name: (topics.APPEAL_OUTCOMES, AppealOutcome, on_outcome),
    }

    @app.agent(raw_topic(app, *INPUTS), name="adjudicator.claim-events", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def adjudicate(stream):
        await processor.run_routes(stream, handlers)

    @app.timer(interval=settings.adjudicator_sweep_seconds)
    async def sweep() -> None:
        """Dead-letter parked remittances whose claim never came, and refresh the backlog
        gauges (active partitions only). Faust tables cannot be written outside stream
        iteration, so the entry itself is cleaned by the next event for that claim; the
        in-process set keeps a remittance from being dead-lettered twice."""
        now = utcnow()
        entries = [e for _, e in ledger.items()]
        for entry in entries:
            if entry and entry.get("pending"):
                await dead_letter_unmatched(expire_pending(entry, now))
        backlog = appeal_backlog(entries, now.date())
        metrics.APPEAL_BACKLOG.set(backlog["open_items"])
        metrics.PENDING_REMITTANCES.set(backlog["pending_remittances"])
        for bucket, dollars in backlog["dollars_at_risk"].items():
            metrics.APPEAL_DOLLARS_AT_RISK.labels(bucket).set(float(dollars))
        open_up = {(p, k): d for p, kinds in underpayment_backlog(entries).items() for k, d in kinds.items()}
        for labels in set(open_up) | underpayment_labels:  # a closed payer/kind goes back to 0
            metrics.OPEN_UNDERPAYMENT_DOLLARS.labels(*labels).set(float(open_up.get(labels, 0)))
        underpayment_labels.update(open_up)

    @app.page("/claims/{claim_id}")
    async def claim_history(web, request, claim_id: str):
        """Read-only view of one claim's ledger entry and history (local partitions only)."""
        entry = ledger.get(claim_id)
        if entry is None:
            return web.json({"claim_id": claim_id, "found": False}, status=404)
        return web.json({"found": True, **{k: v for k, v in entry.items() if k != "pending"},
                         "pending_remittances": len(entry.get("pending", []))})

    app.claimflow_processor = processor
    app.claimflow_ledger = ledger
    return app
