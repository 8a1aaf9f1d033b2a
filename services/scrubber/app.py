"""Scrubber service wiring: encounters.coded.v1 -> claims.v1 | claims.held.v1.

The ``emitted-claims`` table (keyed by encounter id, like its input topic)
remembers the claim versions already emitted, so a redelivered coded encounter never
produces a second claim."""

from __future__ import annotations

import faust
from mode import CrashingSupervisor

from claimflow import metrics, topics
from claimflow.models import CodedEncounter, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.scrubber.logic import scrub

SERVICE = "scrubber"


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    emitted = app.Table(topics.EMITTED_CLAIMS.table, default=None, partitions=partitions_of(topics.EMITTED_CLAIMS.source))

    async def handle(coded: CodedEncounter, event) -> list[Output]:
        seen = emitted.get(coded.encounter_id)
        if seen is not None and seen >= coded.encounter_version:
            metrics.SCRUB_OUTCOMES.labels("duplicate").inc()
            return []
        result = scrub(coded, utcnow())

        def remember() -> None:
            emitted[coded.encounter_id] = coded.encounter_version
        if result.claim is not None:
            for f in result.claim.findings:
                metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()
            metrics.SCRUB_OUTCOMES.labels("clean").inc()
            return Result([Output(topics.CLAIMS, result.claim.claim_id, result.claim)], remember)
        for f in result.held.claim.findings:
            metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()
        metrics.SCRUB_OUTCOMES.labels("held").inc()
        return Result([Output(topics.CLAIMS_HELD, result.held.claim_id, result.held)], remember)

    @app.agent(raw_topic(app, topics.ENCOUNTERS_CODED), name="scrubber.coded-encounters", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def scrub_claims(stream):
        await processor.run(stream, topics.ENCOUNTERS_CODED, CodedEncounter, handle)

    app.claimflow_processor = processor
    return app
