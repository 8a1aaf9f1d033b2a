"""Coder service wiring: encounters.v1 -> encounters.coded.v1 | coding.review.v1. A review that
the mapping learned from coders settles is coded instead (provenance learned; see
services/coder/learning.py and resolutions_agent.py)."""

from __future__ import annotations

import faust
from mode import CrashingSupervisor

from claimflow import topics
from claimflow.models import EncounterEvent, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from services.coder import metrics as svc_metrics
from services.coder.logic import Coder, CodingReference
from services.coder import learning, resolutions_agent

SERVICE = "coder"


def build_app(settings: Settings | None = None, reference: CodingReference | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    coder = Coder(reference or CodingReference.load())  # code sets, maps and search index: once, at start
    pending, learned = resolutions_agent.install(app, processor, coder.ref)  # human resolutions (coding.resolutions.v1)
    k = settings.coder_learning_k

    async def handle(enc: EncounterEvent, event) -> list[Output]:
        now = utcnow()
        result = coder.code(enc, now)
        if result.coded is not None:
            svc_metrics.CODING_OUTCOMES.labels("coded").inc()
            return [Output(topics.ENCOUNTERS_CODED, enc.encounter_id, result.coded)]
        taught = learning.apply(coder.ref, enc, result.review, learned.counts, k, now)
        if taught.coded is not None:
            svc_metrics.CODING_OUTCOMES.labels("learned").inc()
            return [Output(topics.ENCOUNTERS_CODED, enc.encounter_id, taught.coded)]
        svc_metrics.CODING_OUTCOMES.labels("review").inc()
        # the item carries any disagreement; review-pending keeps the concepts of the coder's own review
        return Result([Output(topics.CODING_REVIEW, enc.encounter_id, taught.review)],
                      after_delivery=lambda: pending.remember(enc, result.review))

    @app.agent(raw_topic(app, topics.ENCOUNTERS), name="coder.encounters", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def code(stream):
        await processor.run(stream, topics.ENCOUNTERS, EncounterEvent, handle)

    app.claimflow_processor = processor
    return app
