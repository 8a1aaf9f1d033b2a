"""The coder's consumption of human resolutions (coding.resolutions.v1): thin Faust wiring
around ``services.coder.resolution``.

The coder remembers every encounter it routes to review in the changelog-backed table
``review-pending`` (keyed by encounter id, co-partitioned with encounters.v1 and
coding.resolutions.v1). A resolution is applied against that encounter:
- valid human codes -> CodedEncounter (provenance reviewed) on encounters.coded.v1;
- codes that fail the coder's checks -> back on coding.review.v1 with the findings;
- query_provider -> nothing is coded; the encounter waits for a corrected version;
- a resolution already applied (redelivery, double submit) -> nothing new (one claim);
- an encounter the coder never routed to review -> dead letter, class UnknownEncounter;
- a resolution of an older routing than the one pending -> dead letter, class StaleResolution."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import faust
from mode import CrashingSupervisor

from claimflow import topics
from claimflow.dlq import PoisonMessage, Stage
from claimflow.models import CodedEncounter, CodingResolution, CodingReviewItem, EncounterEvent, ResolutionAction, utcnow
from claimflow.runtime import Output, Processor, Result, raw_topic
from claimflow.topics import partitions_of
from services.coder.reference import CodingReference
from services.coder.resolution import apply_resolution

log = logging.getLogger("claimflow")


def _ms(dt: datetime) -> int:
    return int(dt.astimezone(timezone.utc).timestamp() * 1000)


class ReviewPending:
    """Table access: encounter id -> {encounter, routed_at_ms, applied: [resolution ids]}."""

    def __init__(self, table):
        self.table = table

    def remember(self, enc: EncounterEvent, review: CodingReviewItem) -> None:
        prev = self.table.get(enc.encounter_id) or {}
        self.table[enc.encounter_id] = {"encounter": enc.model_dump(mode="json"), "routed_at_ms": _ms(review.routed_at),
                                        "applied": list(prev.get("applied", []))[-20:]}

    def get(self, encounter_id: str) -> dict | None:
        return self.table.get(encounter_id)

    def mark_applied(self, encounter_id: str, resolution_id: str, review: CodingReviewItem | None) -> None:
        entry = dict(self.table.get(encounter_id) or {})
        entry["applied"] = (list(entry.get("applied", [])) + [resolution_id])[-20:]
        if review is not None:  # back in review: the next resolution must name this routing
            entry["routed_at_ms"] = _ms(review.routed_at)
        self.table[encounter_id] = entry


def install(app: faust.App, processor: Processor, reference: CodingReference) -> ReviewPending:
    """Declare the review-pending table and the resolutions agent on the coder's app."""
    # through the record loop's batch overlay: a later record of a batch sees an earlier one's writes
    table = processor.table(app.Table(topics.REVIEW_PENDING.table, default=None, partitions=partitions_of(topics.REVIEW_PENDING.source)))
    pending = ReviewPending(table)

    async def handle(res: CodingResolution, event) -> Result:
        entry = pending.get(res.encounter_id)
        if entry is None:
            raise PoisonMessage(Stage.RULES, "resolution for an encounter the coder never routed to review", "UnknownEncounter")
        if res.resolution_id in entry.get("applied", []):
            log.info("resolution %s for %s already applied: nothing new", res.resolution_id, res.encounter_id)
            return Result([])
        enc = EncounterEvent.model_validate(entry["encounter"])
        if res.encounter_version != enc.version or _ms(res.review_routed_at) != int(entry["routed_at_ms"]):
            raise PoisonMessage(Stage.RULES, "resolution of a review routing that is no longer the pending one", "StaleResolution")
        if res.action is ResolutionAction.QUERY_PROVIDER:
            return Result([], after_delivery=lambda: pending.mark_applied(res.encounter_id, res.resolution_id, None))
        result = apply_resolution(reference, enc, res, utcnow())
        if isinstance(result, CodedEncounter):
            out = Output(topics.ENCOUNTERS_CODED, res.encounter_id, result)
            review = None
        else:
            out = Output(topics.CODING_REVIEW, res.encounter_id, result)
            review = result
        return Result([out], after_delivery=lambda: pending.mark_applied(res.encounter_id, res.resolution_id, review))

    @app.agent(raw_topic(app, topics.CODING_RESOLUTIONS), name="coder.resolutions", concurrency=1,
               supervisor_strategy=CrashingSupervisor)
    async def resolutions(stream):
        await processor.run(stream, topics.CODING_RESOLUTIONS, CodingResolution, handle)

    return pending
