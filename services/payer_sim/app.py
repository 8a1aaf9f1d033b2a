"""Payer simulator wiring: claims.v1 -> adjudications.v1, and filed appeals
(appeals.actions.v1) -> appeals.outcomes.v1 after a delay.

Adjudicates every submitted claim with seeded, realistic outcomes (CO-45 fee-schedule
adjustments, PR-1/PR-3, configurable denials) so the demo and benchmarks close the loop
without a real payer. Deterministic per claim id + seed: a redelivered claim yields the
same adjudication id, which the adjudicator's ledger posts once. Filed appeals are answered
at odds per CARC and payer; the answer waits ``payer_sim_appeal_delay_seconds`` after the
filing was published (records are answered in order, so each waits only for what is left
of its own delay) and its decision date is weeks after the filing date."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import faust
from mode import CrashingSupervisor

from claimflow import topics
from claimflow.models import AppealAction, Claim, utcnow
from claimflow.runtime import Output, Processor, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from services.payer_sim.logic import AppealSimConfig, SimConfig, adjudicate, answer_appeal

SERVICE = "payer-sim"


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    config = SimConfig(seed=settings.payer_sim_seed, **({"denial_rates": dict(settings.payer_sim_denial_rates)}
                                                        if settings.payer_sim_denial_rates else {}))
    appeal_config = AppealSimConfig(seed=settings.payer_sim_seed)
    delay = settings.payer_sim_appeal_delay_seconds

    async def handle(claim: Claim, event) -> list[Output]:
        ts = event.message.timestamp
        as_of = datetime.fromtimestamp(ts, timezone.utc) if ts else claim.created_at  # the claim record's time: stable on redelivery
        adj = adjudicate(claim, config, as_of=as_of)
        return [Output(topics.ADJUDICATIONS, adj.claim_id, adj)]

    @app.agent(raw_topic(app, topics.CLAIMS), name="payer-sim.claims", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def simulate(stream):
        await processor.run(stream, topics.CLAIMS, Claim, handle)

    async def answer(action: AppealAction, event) -> list[Output]:
        outcome = answer_appeal(action, appeal_config, received_at=utcnow())
        if outcome is None:
            return []
        published = (event.message.timestamp or time.time())
        wait = published + delay - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        return [Output(topics.APPEAL_OUTCOMES, outcome.claim_id, outcome.model_copy(update={"received_at": utcnow()}))]

    @app.agent(raw_topic(app, topics.APPEAL_ACTIONS), name="payer-sim.appeals", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def appeals(stream):
        await processor.run(stream, topics.APPEAL_ACTIONS, AppealAction, answer)

    app.claimflow_processor = processor
    return app
