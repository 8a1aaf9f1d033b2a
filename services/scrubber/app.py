"""Scrubber service wiring.

1. ``scrubber.rekey``: encounters.coded.v1 (keyed by encounter id) is validated and its
   original bytes are forwarded (not re-encoded), re-keyed by ``day_key`` (an opaque hash of patient + providers + date of service) onto
   encounters.coded.by-day.v1, so every claim of the same patient/provider/day meets in
   one partition.
2. ``scrubber.claims``: scrubs each coded encounter with the cross-claim history of its
   day (MUE MAI 2/3 unit totals, duplicate line signatures) from the ``day-history``
   table, and emits claims.v1 or claims.held.v1. The ``emitted-claims`` table remembers
   the claim versions already emitted so a redelivery never produces a second claim.
   Both tables are written only after the claim is acknowledged by the broker (within a
   batch, later records see earlier ones' writes through the Processor's overlay).
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
from claimflow.models import Claim, ClaimCorrection, CodedEncounter, HeldClaim, safe_errors, utcnow
from claimflow.runtime import Forward, Output, Processor, Result, make_app, raw_topic
from claimflow.security import InsecureConfiguration, relaxed
from claimflow.settings import Settings, get_settings
from claimflow.topics import partitions_of
from services.scrubber import corrections as corr
from services.scrubber import flow
from services.scrubber import metrics as svc_metrics
from services.scrubber.history import DEFAULT_DAY_KEY_SECRET
from services.scrubber.logic import ScrubReference, Scrubber

log = logging.getLogger("claimflow.scrubber")

SERVICE = "scrubber"


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
    from claimflow.reimbursement.contracts import build_pricer

    return Scrubber(ref, day_key_secret=secret, pricer=build_pricer(settings))


def build_app(settings: Settings | None = None, reference: ScrubReference | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    scrubber = build_scrubber(settings, reference)
    # tables through the record loop's batch overlay: a later record of a batch sees an earlier one's writes
    emitted = processor.table(app.Table(topics.EMITTED_CLAIMS.table, default=None, partitions=partitions_of(topics.EMITTED_CLAIMS.source)))
    days = processor.table(app.Table(topics.DAY_HISTORY.table, default=None, partitions=partitions_of(topics.DAY_HISTORY.source)))
    held_index = processor.table(app.Table(topics.HELD_INDEX.table, default=None, partitions=partitions_of(topics.HELD_INDEX.source)))
    history = flow.DayHistory(days)

    async def rekey(coded: CodedEncounter, event) -> list[Forward]:
        # the validated record's original bytes under the new key: nothing is re-serialised
        return [Forward(topics.ENCOUNTERS_CODED_BY_DAY, scrubber.day_key(coded), event.message.value)]

    def result_of(decision: flow.Decision, claim_id: str) -> Result:
        """The decision's output, and its table writes once the output is acknowledged."""
        for f in decision.findings:
            svc_metrics.SCRUB_FINDINGS.labels(f.family.value, f.severity.value).inc()
        outputs = [Output(*decision.output)] if decision.output is not None else []
        if not decision.has_writes:
            return Result(outputs)

        def remember() -> None:
            if decision.emitted is not None:
                emitted[claim_id] = decision.emitted
            if decision.held_index is not None:
                held_index[claim_id] = decision.held_index
            if decision.history is not None:
                days[decision.history.day_key] = flow.apply_updates(days.get(decision.history.day_key), decision.history)

        return Result(outputs, remember)

    async def scrub(coded: CodedEncounter, event) -> Result:
        cid = flow.claim_id_of(coded)
        decision = flow.scrub_coded(coded, emitted.get(cid), scrubber, history, utcnow())
        svc_metrics.SCRUB_OUTCOMES.labels(decision.outcome).inc()
        if decision.outcome == flow.DUPLICATE:
            metrics.RECORDS_IN.labels(SERVICE, "duplicate").inc()
        return result_of(decision, cid)

    async def index_held(held: HeldClaim, event) -> Result:
        return result_of(flow.index_held(held, held_index.get(held.claim_id), scrubber.day_key), held.claim_id)

    async def route_correction(correction: ClaimCorrection, event) -> Result:
        return result_of(flow.route_correction(correction, held_index.get(correction.claim_id), scrubber.day_key),
                         correction.claim_id)

    async def rescrub(correction: ClaimCorrection, event) -> Result:
        cid = correction.claim_id
        try:
            decision = flow.rescrub_correction(correction, emitted.get(cid), scrubber, history, utcnow())
        except corr.CorrectionRefused as refused:
            svc_metrics.CORRECTIONS.labels("refused").inc()
            raise PoisonMessage(Stage.RULES, str(refused), refused.code) from None
        svc_metrics.CORRECTIONS.labels(decision.outcome).inc()
        if decision.outcome != flow.DUPLICATE:
            log.info("correction %s of claim %s: %s", correction.correction_id, cid, decision.outcome.replace("_", " "))
        return result_of(decision, cid)

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
            svc_metrics.CORRECTIONS.labels("unauthenticated").inc()
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
        svc_metrics.CORRECTIONS.labels("submitted_http").inc()
        return 202, {"correction_id": correction.correction_id, "claim_id": claim_id}

    app.claimflow_processor = processor
    return app

