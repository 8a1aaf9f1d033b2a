"""Scrubber service wiring.

1. ``scrubber.rekey``: encounters.coded.v1 (keyed by encounter id) is validated and
   re-keyed by ``day_key`` (an opaque hash of patient + providers + date of service) onto
   encounters.coded.by-day.v1, so every claim of the same patient/provider/day meets in
   one partition.
2. ``scrubber.claims``: scrubs each coded encounter with the cross-claim history of its
   day (MUE MAI 2/3 unit totals, duplicate line signatures) from the ``day-history``
   table, and emits claims.v1 or claims.held.v1. The ``emitted-claims`` table remembers
   the claim versions already emitted so a redelivery never produces a second claim.
   Both tables are written only after the claim is acknowledged by the broker.
"""

from __future__ import annotations

import faust
from mode import CrashingSupervisor

from claimflow import metrics, topics
from claimflow.ids import claim_id as make_claim_id
from claimflow.models import CodedEncounter, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.scrubber.history import HistoryUpdates
from services.scrubber.logic import ScrubReference, Scrubber

SERVICE = "scrubber"


class TableHistory:
    """ClaimHistory over the day-history table (entry per day_key)."""

    def __init__(self, table):
        self.table = table

    def units_billed(self, day_key: str, code: str) -> int:
        entry = self.table.get(day_key) or {}
        return int(entry.get("units", {}).get(code, 0))

    def has_signature(self, day_key: str, signature: str) -> bool:
        entry = self.table.get(day_key) or {}
        return signature in entry.get("signatures", ())


def apply_updates(entry: dict | None, updates: HistoryUpdates) -> dict:
    """New day-history entry with ``updates`` applied once per claim id."""
    entry = {"units": {}, "signatures": [], "claims": [], **(entry or {})}
    if updates.claim_id in entry["claims"]:
        return entry
    units = dict(entry["units"])
    for code, n in updates.units.items():
        units[code] = units.get(code, 0) + n
    return {"units": units, "signatures": sorted(set(entry["signatures"]) | set(updates.signatures)),
            "claims": entry["claims"] + [updates.claim_id]}


def build_app(settings: Settings | None = None, reference: ScrubReference | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    scrubber = Scrubber(reference or ScrubReference.load())
    emitted = app.Table(topics.EMITTED_CLAIMS.table, default=None, partitions=partitions_of(topics.EMITTED_CLAIMS.source))
    days = app.Table(topics.DAY_HISTORY.table, default=None, partitions=partitions_of(topics.DAY_HISTORY.source))
    history = TableHistory(days)

    async def rekey(coded: CodedEncounter, event) -> list[Output]:
        return [Output(topics.ENCOUNTERS_CODED_BY_DAY, scrubber.day_key(coded), coded)]

    async def scrub(coded: CodedEncounter, event) -> Result:
        cid = make_claim_id(coded.encounter_id, coded.encounter_version)
        if emitted.get(cid) is not None:
            metrics.SCRUB_OUTCOMES.labels("duplicate").inc()
            metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()
            return Result([])
        result = scrubber.scrub(coded, history, utcnow())
        for f in result.findings:
            metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()

        def remember() -> None:
            emitted[cid] = coded.encounter_version
            if result.history_updates is not None and not result.history_updates.empty:
                key = result.history_updates.day_key
                days[key] = apply_updates(days.get(key), result.history_updates)

        if result.claim is not None:
            metrics.SCRUB_OUTCOMES.labels("clean").inc()
            return Result([Output(topics.CLAIMS, result.claim.claim_id, result.claim)], remember)
        metrics.SCRUB_OUTCOMES.labels("held").inc()
        return Result([Output(topics.CLAIMS_HELD, result.held.claim_id, result.held)], remember)

    @app.agent(raw_topic(app, topics.ENCOUNTERS_CODED), name="scrubber.rekey", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def rekey_agent(stream):
        await processor.run(stream, topics.ENCOUNTERS_CODED, CodedEncounter, rekey)

    @app.agent(raw_topic(app, topics.ENCOUNTERS_CODED_BY_DAY), name="scrubber.claims", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def scrub_agent(stream):
        await processor.run(stream, topics.ENCOUNTERS_CODED_BY_DAY, CodedEncounter, scrub)

    app.claimflow_processor = processor
    return app
