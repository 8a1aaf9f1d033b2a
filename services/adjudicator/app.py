"""Adjudicator service wiring.

One agent over the co-partitioned claim-keyed topics (claims.v1, claims.held.v1,
claims.status.v1, adjudications.v1, appeals.actions.v1, appeals.outcomes.v1), so every
update of a claim's ledger entry is serialised. Outputs: claims.status.v1 (every
transition), appeals.v1 (every denial that needs a person, with its kind),
denials.no-action.v1 (every denial that needs none, with the why), claims.corrections.v1,
billing.patient.v1, appeals.underpayments.v1 (paid lines whose
allowed amount misses the claim's expected allowed beyond tolerance). The ``claim-ledger`` table is keyed by claim id; the
``overturn-model`` table (changelog-backed, so learning survives restarts) holds the
appeal outcomes learned from each source partition, merged for every new work item. A
refused action (late filing without a reason, a write-off above the limit without a
supervisor) and an outcome for an appeal never filed are dead-lettered with the reason.
A timer dead-letters remittances whose claim never came."""

from __future__ import annotations

from datetime import timedelta

import faust
from mode import CrashingSupervisor

from claimflow import metrics, topics
from decimal import Decimal

from claimflow.audit import access_event
from claimflow.dlq import PoisonMessage, Stage
from claimflow.httpauth import authenticate, table_from_settings
from claimflow.models import AccessOutcome, Adjudication, AppealAction, AppealOutcome, Claim, ClaimStatusChanged, HeldClaim, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic, table_options
from claimflow.security import relaxed
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.adjudicator import flow
from services.adjudicator import metrics as svc_metrics
from services.adjudicator.logic import (
    Policy,
    Posting,
    apply_adjudication,
    apply_appeal_outcome,
    apply_claim,
    apply_held,
    apply_status,
    expire_outcomes,
    expire_pending,
    sweep_scan,
)
from services.adjudicator.actions import apply_action
from services.adjudicator.appeals import OverturnModel
from services.adjudicator.reference import load_code_lists

SERVICE = "adjudicator"
INPUTS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CLAIMS_STATUS, topics.ADJUDICATIONS, topics.APPEAL_OUTCOMES, topics.APPEAL_ACTIONS)


def outputs_of(posting: Posting) -> list[Output]:
    out = [Output(topics.CLAIMS_STATUS, e.claim_id, e) for e in posting.status_events]
    out += [Output(topics.APPEALS, w.claim_id, w) for w in posting.work_items]
    out += [Output(topics.NO_ACTION, n.claim_id, n) for n in posting.no_action]
    out += [Output(topics.CLAIMS_CORRECTIONS, c.claim_id, c) for c in posting.corrections]
    out += [Output(topics.PATIENT_BILLING, b.claim_id, b) for b in posting.patient_bills]
    out += [Output(topics.UNDERPAYMENTS, u.claim_id, u) for u in posting.underpayments]
    return out


def count(posting: Posting) -> None:
    c = flow.counts(posting)  # payer ids are a small, bounded set of organisations (never patient data)
    for state in c.adjudications:
        svc_metrics.ADJUDICATIONS.labels(c.payer, state).inc()
    for group, disposition in c.denials:
        svc_metrics.DENIALS.labels(c.payer, group, disposition).inc()
    for family in posting.metrics.patient_shares:
        svc_metrics.PATIENT_RESPONSIBILITY.labels(c.payer, family).inc()
    if c.unknown_codes:
        svc_metrics.UNKNOWN_REASON_CODES.inc(c.unknown_codes)
    for family in c.finding_families:
        svc_metrics.ADJUDICATION_FINDINGS.labels(family).inc()
    if c.duplicate:
        metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()
    for w in posting.work_items:
        svc_metrics.DENIAL_WORK_ITEMS.labels(w.kind.value).inc()
    for n in posting.no_action:
        svc_metrics.NO_ACTION_DISPOSITIONS.labels(n.disposition.value).inc()
    count_reimbursement(posting)


def count_reimbursement(posting: Posting) -> None:
    """Expected vs allowed vs paid dollars of compared lines, and underpayment items opened."""
    for result in posting.comparisons:
        payer = result.payer_id or "unknown"
        for c in result.compared:
            svc_metrics.EXPECTED_ALLOWED_DOLLARS.labels(payer).inc(float(c.expected))
            svc_metrics.ALLOWED_DOLLARS.labels(payer).inc(float(c.allowed))
            svc_metrics.PAID_DOLLARS.labels(payer).inc(float(c.paid))
    for u in posting.underpayments:
        svc_metrics.UNDERPAYMENT_DOLLARS.labels(u.payer_id, u.kind.value).inc(float(u.recoverable_amount))
        svc_metrics.UNDERPAYMENT_ITEMS.labels(u.payer_id, u.kind.value).inc()


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    # tables through the record loop's batch overlay: a later record of a batch sees an earlier one's writes;
    # bounded RocksDB caches and memtables (table_options)
    ledger = processor.table(app.Table(topics.CLAIM_LEDGER.table, default=None, partitions=partitions_of(topics.CLAIM_LEDGER.source),
                                       options=table_options(settings)))
    overturn = processor.table(app.Table(topics.OVERTURN_MODEL.table, default=None, partitions=partitions_of(topics.OVERTURN_MODEL.source),
                                         options=table_options(settings)))
    codes = load_code_lists(imported_dir=settings.adjudicator_refdata_dir or settings.scrubber_refdata_dir)
    policy = Policy(codes=codes, pending_ttl=timedelta(hours=settings.adjudicator_pending_ttl_hours),
                    write_off_limit=Decimal(str(settings.adjudicator_write_off_limit)),
                    outcome_wait=timedelta(seconds=settings.adjudicator_outcome_wait_seconds))

    def learned() -> Policy:
        """The policy with the overturn model merged from every local partition's part."""
        policy.model = OverturnModel.merged([v for _, v in overturn.items() if v], policy.book)
        return policy

    unmatched = flow.UnmatchedGuard()
    underpayment_labels: set[tuple[str, str]] = set()  # (payer, kind) pairs the open-dollars gauge has shown

    async def dead_letter_unmatched(posting: Posting) -> None:
        for adj, origin in unmatched.take(posting):
            svc_metrics.UNMATCHED_REMITTANCES.inc()
            await processor.dead_letter_record(adj.claim_id, adj, Stage.RULES, "UnmatchedRemittance",
                                               "no claim arrived for this remittance within the pending time", origin)

    outcomes_sent: set[str] = set()

    async def dead_letter_outcomes(expired) -> None:
        for outcome, origin, message in expired:
            if outcome.outcome_id in outcomes_sent:
                continue
            outcomes_sent.add(outcome.outcome_id)
            await processor.dead_letter_record(outcome.claim_id, outcome, Stage.RULES, "AppealNotFiled", message, origin)

    async def finish(claim_id: str, posting: Posting, event=None) -> Result:
        if posting.rejected is not None:
            raise PoisonMessage(Stage.RULES, posting.rejected, "Refused")
        count(posting)
        await dead_letter_unmatched(posting)
        entry = flow.ledger_write(posting)
        await dead_letter_outcomes(posting.expired_outcomes)

        def record() -> None:
            if entry is None:
                ledger.pop(claim_id, None)
            else:
                ledger[claim_id] = entry
            if posting.observations and event is not None:
                # one part per source partition: every key is written from one partition only
                key = f"p{event.message.partition}"
                part = OverturnModel.from_dict(overturn.get(key), policy.book)
                for payer, carc, won, outcome_id in posting.observations:
                    part.observe(payer, carc, won, outcome_id=outcome_id)
                overturn[key] = part.to_dict()

        return Result(outputs_of(posting), record)

    async def on_claim(claim: Claim, event) -> Result:
        return await finish(claim.claim_id, apply_claim(ledger.get(claim.claim_id), claim, utcnow(), learned()))

    async def on_held(held: HeldClaim, event) -> Result:
        return await finish(held.claim_id, apply_held(ledger.get(held.claim_id), held, utcnow(), policy))

    async def on_status(ev: ClaimStatusChanged, event) -> Result:
        return await finish(ev.claim_id, apply_status(ledger.get(ev.claim_id), ev, utcnow(), policy))

    async def on_adjudication(adj: Adjudication, event) -> Result:
        msg = event.message
        origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        return await finish(adj.claim_id, apply_adjudication(ledger.get(adj.claim_id), adj, utcnow(), learned(), origin=origin))

    async def on_outcome(outcome: AppealOutcome, event) -> Result:
        msg = event.message
        origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        posting = apply_appeal_outcome(ledger.get(outcome.claim_id), outcome, utcnow(), learned(), origin=origin)
        svc_metrics.APPEAL_OUTCOMES.labels("refused" if posting.rejected else outcome.outcome.value).inc()
        return await finish(outcome.claim_id, posting, event)

    async def on_action(action: AppealAction, event) -> Result:
        posting = apply_action(ledger.get(action.claim_id), action, utcnow(), learned())
        result = "refused" if posting.rejected else "duplicate" if posting.duplicate else "applied"
        svc_metrics.APPEAL_ACTIONS.labels(action.action.value, result).inc()
        return await finish(action.claim_id, posting, event)

    handlers = {
        topics.CLAIMS.name: (topics.CLAIMS, Claim, on_claim),
        topics.CLAIMS_HELD.name: (topics.CLAIMS_HELD, HeldClaim, on_held),
        topics.CLAIMS_STATUS.name: (topics.CLAIMS_STATUS, ClaimStatusChanged, on_status),
        topics.ADJUDICATIONS.name: (topics.ADJUDICATIONS, Adjudication, on_adjudication),
        topics.APPEAL_OUTCOMES.name: (topics.APPEAL_OUTCOMES, AppealOutcome, on_outcome),
        topics.APPEAL_ACTIONS.name: (topics.APPEAL_ACTIONS, AppealAction, on_action),
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
        # one pass, one decoded entry at a time (no list of the whole ledger): only the
        # entries with something to expire are kept for the awaits below
        scan = sweep_scan(ledger.values(), now.date())
        for entry in scan.due:
            if entry.get("pending"):
                await dead_letter_unmatched(expire_pending(entry, now))
            if entry.get("parked_outcomes"):  # outcomes whose filing never came
                await dead_letter_outcomes(expire_outcomes(dict(entry, parked_outcomes=list(entry["parked_outcomes"])), now))
        backlog = scan.backlog
        svc_metrics.APPEAL_BACKLOG.set(backlog["open_items"])
        svc_metrics.PENDING_REMITTANCES.set(backlog["pending_remittances"])
        for bucket, dollars in backlog["dollars_at_risk"].items():
            svc_metrics.APPEAL_DOLLARS_AT_RISK.labels(bucket).set(float(dollars))
        open_up = {(p, k): d for p, kinds in scan.open_underpayments.items() for k, d in kinds.items()}
        for labels in set(open_up) | underpayment_labels:  # a closed payer/kind goes back to 0
            svc_metrics.OPEN_UNDERPAYMENT_DOLLARS.labels(*labels).set(float(open_up.get(labels, 0)))
        underpayment_labels.update(open_up)

    tokens = table_from_settings(settings)
    dev = relaxed(settings)
    audit_topic = processor.topic(topics.AUDIT_ACCESS)

    async def record_access(principal, claim_id: str, outcome: AccessOutcome) -> None:
        event = access_event(principal, "claim", claim_id, "read", SERVICE, "GET /claims/{claim_id}", outcome)
        value = processor.codec.encode(topics.AUDIT_ACCESS.value, event.to_avro())
        await (await audit_topic.send(key=claim_id.encode(), value=value))  # recorded before anything is served
        svc_metrics.PHI_ACCESS.labels(SERVICE, outcome.value).inc()

    @app.page("/claims/{claim_id}")
    async def claim_history(web, request, claim_id: str):
        """Read-only view of one claim's ledger entry and history (local partitions only):
        PHI, so it needs a bearer token naming a principal, and every read by a principal is
        recorded on audit.access.v1 before the answer goes out. A refused request serves
        nothing and is only counted (so anonymous callers cannot flood the audit trail)."""
        principal = authenticate(request.headers, tokens, relaxed=dev)
        if principal is None:
            svc_metrics.PHI_ACCESS.labels(SERVICE, AccessOutcome.DENIED.value).inc()
            return web.json({"error": "missing or invalid bearer token"}, status=401)
        entry = ledger.get(claim_id)
        if entry is None:
            await record_access(principal, claim_id, AccessOutcome.NOT_FOUND)
            return web.json({"claim_id": claim_id, "found": False}, status=404)
        await record_access(principal, claim_id, AccessOutcome.SERVED)
        return web.json({"found": True, **{k: v for k, v in entry.items() if k != "pending"},
                         "pending_remittances": len(entry.get("pending", []))})

    @app.page("/overturn-model")
    async def overturn_model(web, request):
        """The learned overturn model (local partitions): counts and likelihood per payer|CARC.
        No PHI (payer ids and reason codes only), but business data: a token is required."""
        if authenticate(request.headers, tokens, relaxed=dev) is None:
            return web.json({"error": "missing or invalid bearer token"}, status=401)
        model = OverturnModel.merged([v for _, v in overturn.items() if v], policy.book)
        return web.json({"parts": sorted(k for k, _ in overturn.items()), "counts": model.counts,
                         "likelihood": {k: round(model.likelihood(*k.split("|", 1)), 6) for k in sorted(model.counts)}})

    app.claimflow_processor = processor
    app.claimflow_overturn = overturn
    app.claimflow_ledger = ledger
    return app
