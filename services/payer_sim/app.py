"""Payer simulator wiring: claims.v1 -> adjudications.v1.

Adjudicates every submitted claim with seeded, realistic outcomes (CO-45 fee-schedule
adjustments, PR-1/PR-3, configurable denials) so the demo and benchmarks close the loop
without a real payer. Deterministic per claim id + seed: a redelivered claim yields the
same adjudication id, which the adjudicator's ledger posts once."""

from __future__ import annotations

from datetime import datetime, timezone

import faust
from mode import CrashingSupervisor

from claimflow import topics
from claimflow.models import Claim
from claimflow.runtime import Output, Processor, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from services.payer_sim.logic import SimConfig, adjudicate

SERVICE = "payer-sim"


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    config = SimConfig(seed=settings.payer_sim_seed)

    async def handle(claim: Claim, event) -> list[Output]:
        ts = event.message.timestamp
        as_of = datetime.fromtimestamp(ts, timezone.utc) if ts else claim.created_at  # the claim record's time: stable on redelivery
        adj = adjudicate(claim, config, as_of=as_of)
        return [Output(topics.ADJUDICATIONS, adj.claim_id, adj)]

    @app.agent(raw_topic(app, topics.CLAIMS), name="payer-sim.claims", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def simulate(stream):
        await processor.run(stream, topics.CLAIMS, Claim, handle)

    app.claimflow_processor = processor
    return app
