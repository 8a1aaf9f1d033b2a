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
3. The correction loop (services/scrubber/corrections.py): ``scrubber.corrections`` reads
   claims.held.v1 (to remember each held claim's day_key in the ``held-index`` table) and
   claims.corrected.v1 (corrections made by a person), and re-keys each correction by the
   day_key of the claim it corrects onto claims.corrected.by-day.v1. ``scrubber.claims``
   reads that topic too, so a correction meets its claim's ``emitted-claims`` entry in the
   same partition and the same agent: it is re-scrubbed and released to claims.v1 (once per
   claim version) or held again with fresh findings.
   ``POST /claims/{claim_id}/corrections`` takes a correction over HTTP (Bearer token when
   ``CLAIMFLOW_HTTP_WRITE_TOKEN`` is set).
"""

from __future__ import annotations

import logging

import faust
from mode import CrashingSupervisor
from pydantic import ValidationError

from claimflow import metrics, topics
from claimflow.dlq import PoisonMessage, Stage
from claimflow.httpauth import DEV_PRINCIPAL, authenticate, table_from_settings
from claimflow.ids import claim_id as make_claim_id
from claimflow.models import Claim, ClaimCorrection, CodedEncounter, HeldClaim, safe_errors, utcnow
from claimflow.runtime import Output, Processor, Result, make_app, raw_topic
from claimflow.security import InsecureConfiguration, relaxed
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.scrubber import corrections as corr
from services.scrubber.history import DEFAULT_DAY_KEY_SECRET, HistoryUpdates
from services.scrubber.logic import EncounterFacts, ScrubReference, Scrubber

log = logging.getLogger("claimflow.scrubber")

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


def build_scrubber(settings: Settings, reference: ScrubReference | None = None) -> Scrubber:
    configured = settings.day_key_secret()
    if configured is not None:
        secret = configured.get_secret_value().encode()
    elif relaxed(settings):
        secret = DEFAULT_DAY_KEY_SECRET  # dev on loopback only: the well-known development secret
    else:
        raise InsecureConfiguration("the scrubber needs CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET outside the dev profile on loopback: "
                                    "with the built-in secret anyone who reads the topics can recompute patient+provider+day keys")
    ref = reference or ScrubReference.load(settings.scrubber_refdata_dir, payers_file=settings.scrubber_payers_file)
    return Scrubber(ref, day_key_secret=secret)


def build_app(settings: Settings | None = None, reference: ScrubReference | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    scrubber = build_scrubber(settings, reference)
    emitted = app.Table(topics.EMITTED_CLAIMS.table, default=None, partitions=partitions_of(topics.EMITTED_CLAIMS.source))
    days = app.Table(topics.DAY_HISTORY.table, default=None, partitions=partitions_of(topics.DAY_HISTORY.source))
    held_index = app.Table(topics.HELD_INDEX.table, default=None, partitions=partitions_of(topics.HELD_INDEX.source))
    history = TableHistory(days)

    async def rekey(coded: CodedEncounter, event) -> list[Output]:
        return [Output(topics.ENCOUNTERS_CODED_BY_DAY, scrubber.day_key(coded), coded)]

    def record_history(updates: HistoryUpdates | None) -> None:
        if updates is not None and not updates.empty:
            days[updates.day_key] = apply_updates(days.get(updates.day_key), updates)

    async def scrub(coded: CodedEncounter, event) -> Result:
        cid = make_claim_id(coded.encounter_id, coded.encounter_version)
        if emitted.get(cid) is not None:
            metrics.SCRUB_OUTCOMES.labels("duplicate").inc()
            metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()
            return Result([])
        result = scrubber.scrub(coded, history, utcnow())
        for f in result.findings:
            metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()
        state = corr.HELD if result.held is not None else corr.RELEASED
        entry = corr.entry_for(coded.encounter_version, state, EncounterFacts.of(coded))

        def remember() -> None:
            emitted[cid] = entry
            record_history(result.history_updates)

        if result.claim is not None:
            metrics.SCRUB_OUTCOMES.labels("clean").inc()
            return Result([Output(topics.CLAIMS, result.claim.claim_id, result.claim)], remember)
        metrics.SCRUB_OUTCOMES.labels("held").inc()
        return Result([Output(topics.CLAIMS_HELD, result.held.claim_id, result.held)], remember)

    async def index_held(held: HeldClaim, event) -> Result:
        """Remember the day_key of the claim as first held: its emitted-claims entry lives there."""
        if held_index.get(held.claim_id) is not None:
            return Result([])

        def remember() -> None:
            held_index[held.claim_id] = {"day_key": scrubber.day_key(held.claim)}

        return Result([], remember)

    async def route_correction(correction: ClaimCorrection, event) -> list[Output]:
        known = held_index.get(correction.claim_id)
        # Not indexed yet (e.g. the correction overtook the held record): the corrected
        # claim's own day_key is right unless the person changed patient, provider or date.
        day_key = known["day_key"] if known else scrubber.day_key(correction.claim)
        return [Output(topics.CLAIMS_CORRECTED_BY_DAY, day_key, correction)]

    async def rescrub(correction: ClaimCorrection, event) -> Result:
        cid = correction.claim_id
        entry = emitted.get(cid)
        try:
            if not corr.check_correction(entry, correction):
                metrics.CORRECTIONS.labels("duplicate").inc()
                return Result([])
        except corr.CorrectionRefused as refused:
            metrics.CORRECTIONS.labels("refused").inc()
            raise PoisonMessage(Stage.RULES, str(refused), refused.code) from None
        entry = corr.normalise_entry(entry)
        result = scrubber.rescrub(correction.claim, history, utcnow(), corr.facts_from_dict(entry.get("facts")))
        for f in result.findings:
            metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()
        released = result.claim is not None
        log.info("correction %s of claim %s: %s", correction.correction_id, cid, "released" if released else "held again")

        def remember() -> None:
            emitted[cid] = corr.after_correction(entry, correction, released)
            record_history(result.history_updates)

        if released:
            metrics.CORRECTIONS.labels("released").inc()
            return Result([Output(topics.CLAIMS, cid, result.claim)], remember)
        metrics.CORRECTIONS.labels("held_again").inc()
        return Result([Output(topics.CLAIMS_HELD, cid, result.held)], remember)

    @app.agent(raw_topic(app, topics.ENCOUNTERS_CODED), name="scrubber.rekey", concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def rekey_agent(stream):
        await processor.run(stream, topics.ENCOUNTERS_CODED, CodedEncounter, rekey)

    @app.agent(raw_topic(app, topics.CLAIMS_HELD, topics.CLAIMS_CORRECTED), name="scrubber.corrections", concurrency=1,
               supervisor_strategy=CrashingSupervisor)
    async def corrections_agent(stream):
        await processor.run_routes(stream, {
            topics.CLAIMS_HELD.name: (topics.CLAIMS_HELD, HeldClaim, index_held),
            topics.CLAIMS_CORRECTED.name: (topics.CLAIMS_CORRECTED, ClaimCorrection, route_correction),
        })

    @app.agent(raw_topic(app, topics.ENCOUNTERS_CODED_BY_DAY, topics.CLAIMS_CORRECTED_BY_DAY), name="scrubber.claims",
               concurrency=1, supervisor_strategy=CrashingSupervisor)
    async def scrub_agent(stream):
        await processor.run_routes(stream, {
            topics.ENCOUNTERS_CODED_BY_DAY.name: (topics.ENCOUNTERS_CODED_BY_DAY, CodedEncounter, scrub),
            topics.CLAIMS_CORRECTED_BY_DAY.name: (topics.CLAIMS_CORRECTED_BY_DAY, ClaimCorrection, rescrub),
        })

    corrections_topic = processor.topic(topics.CLAIMS_CORRECTED)
    tokens = table_from_settings(settings)
    dev = relaxed(settings)

    @app.page("/claims/{claim_id}/corrections")
    class CorrectionView(faust.web.View):
        async def post(self, request, claim_id: str):
            """A person's correction of a held claim: JSON {"claim": {...}, "corrected_by":
            "...", "reason": "..."}. 202 with the correction id once the broker has it."""
            status, body = await submit_correction(request, claim_id)
            return self.json(body, status=status)

    async def submit_correction(request, claim_id: str) -> tuple[int, dict]:
        principal = authenticate(request.headers, tokens, relaxed=dev)
        if principal is None:
            metrics.CORRECTIONS.labels("unauthenticated").inc()
            return 401, {"error": "missing or invalid bearer token"}
        try:
            body = await request.json()
            # the person who corrected is the authenticated principal, never what the body says;
            # only an unauthenticated dev run takes the body's name (today's convenience)
            by = str(body.get("corrected_by") or principal.name) if principal == DEV_PRINCIPAL else principal.name
            correction = corr.make_correction(Claim.model_validate(body["claim"]), by, str(body.get("reason") or ""), utcnow())
        except ValidationError as exc:
            return 400, {"error": "invalid correction", "detail": safe_errors(exc)}
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "body must be a JSON object with a 'claim' object and 'corrected_by'"}
        if correction.claim_id != claim_id:
            return 400, {"error": "claim.claim_id does not match the URL"}
        value = processor.codec.encode(topics.CLAIMS_CORRECTED.value, correction.to_avro())
        await (await corrections_topic.send(key=claim_id.encode(), value=value))
        metrics.CORRECTIONS.labels("submitted_http").inc()
        return 202, {"correction_id": correction.correction_id, "claim_id": claim_id}

    app.claimflow_processor = processor
    return app

