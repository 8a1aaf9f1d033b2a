"""Adjudicator service wiring: adjudications.v1 -> claims.status.v1 + appeals.v1, with the
``claim-ledger`` table keyed by claim id (the key of adjudications.v1)."""

from __future__ import annotations

import faust
from mode import CrashingSupervisor

from claimflow import metrics, topics
from claimflow.models import Adjudication, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.adjudicator.logic import post

SERVICE = "adjudicator"


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    ledger = app.Table(topics.CLAIM_LEDGER.table, default=None, partitions=partitions_of(topics.CLAIM_LEDGER.source))

    async def handle(adj: Adjudication, event) -> Result:
        posting = post(ledger.get(adj.claim_id), adj, utcnow())
        if posting.duplicate:
            metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()
            return Result([])
        outputs = [Output(topics.CLAIMS_STATUS, e.claim_id, e) for e in posting.status_events]
        outputs += [Output(topics.APPEALS, w.claim_id, w) for w in posting.work_items]
        for e in posting.status_events:
            metrics.ADJUDICATIONS.labels(e.state.value).inc()
        for w in posting.work_items:
            for rc in w.reason_codes:
                metrics.DENIALS.labels(rc.split("-")[0], w.disposition.value).inc()

        def record() -> None:
            ledger[adj.claim_id] = posting.entry

        return Result(outputs, record)

    @app.agent(raw_topic(app, topics.ADJUDICATIONS), name="adjudicator.adjudications", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def adjudicate(stream):
        await processor.run(stream, topics.ADJUDICATIONS, Adjudication, handle)

    app.claimflow_processor = processor
    app.claimflow_ledger = ledger
    return app
