"""The projector's rules: one function per topic that writes an event into the read model.

Every write is an upsert keyed by the business id (encounter id, claim id, resolution id,
status event id), and a routing or version older than the stored one never overwrites a
newer one, so a redelivered or duplicated event leaves the read model as it was. Timeline
entries carry no PHI (codes, states, rule ids, login names). Django ORM, no Kafka here:
``services.workbench.projector`` is the Faust shell that calls ``project``."""

from __future__ import annotations

from datetime import datetime, timezone

from django.db import transaction

from claimflow import topics
from claimflow.models import (
    Adjudication,
    AppealAction,
    AppealOutcome,
    Claim,
    ClaimCorrection,
    ClaimStatusChanged,
    CodedEncounter,
    CodingResolution,
    CodingReviewItem,
    Contract,
    DenialWorkItem,
    EncounterEvent,
    HeldClaim,
    NoActionDisposition,
    Provenance,
    ResolutionAction,
    UnderpaymentWorkItem,
)
from services.workbench import projection_denials as denials
from services.workbench.models import (
    ClaimRecord,
    Encounter,
    HeldClaimRecord,
    Resolution,
    ReviewItem,
    ReviewItemReason,
    ReviewStatus,
    TimelineEvent,
)

RESOLUTION_MARK = " resolution "


def _ms(dt: datetime) -> int:
    return int(dt.astimezone(timezone.utc).timestamp() * 1000)


def _timeline(key: str, encounter_id: str, claim_id: str, kind: str, at: datetime, actor: str = "", detail: str = "") -> None:
    TimelineEvent.objects.update_or_create(event_key=key[:120], defaults=dict(
        encounter_id=encounter_id, claim_id=claim_id, kind=kind, at=at, actor=actor[:150], detail=detail[:400]))


def encounter(e: EncounterEvent) -> None:
    cur = Encounter.objects.filter(encounter_id=e.encounter_id).values_list("version", flat=True).first()
    if cur is not None and cur > e.version:
        return
    payer_id = e.coverage.payer_id if e.coverage else ""
    Encounter.objects.update_or_create(encounter_id=e.encounter_id, defaults=dict(
        version=e.version, payer_id=payer_id, payer_name=e.coverage.payer_name if e.coverage else "",
        date_of_service=e.date_of_service, place_of_service=e.place_of_service,
        document=e.model_dump(mode="json"), received_at=e.occurred_at))
    ReviewItem.objects.filter(encounter_id=e.encounter_id).update(payer_id=payer_id, date_of_service=e.date_of_service)


def review_item(r: CodingReviewItem) -> None:
    cur = ReviewItem.objects.filter(encounter_id=r.encounter_id).first()
    if cur is not None and (cur.encounter_version, _ms(cur.routed_at)) >= (r.encounter_version, _ms(r.routed_at)):
        return  # the same routing again (redelivery) or an older one
    enc = Encounter.objects.filter(encounter_id=r.encounter_id).values("payer_id", "date_of_service").first() or {}
    codes = list(dict.fromkeys(x.code for x in r.reasons))
    item, _ = ReviewItem.objects.update_or_create(encounter_id=r.encounter_id, defaults=dict(
        encounter_version=r.encounter_version, routed_at=r.routed_at, status=ReviewStatus.OPEN, primary_reason=codes[0],
        reason_codes=" ".join(codes)[:400], reasons=[x.model_dump(mode="json") for x in r.reasons], confidence=r.confidence,
        proposed_diagnoses=[d.model_dump(mode="json") for d in r.proposed_diagnoses],
        proposed_service_lines=[ln.model_dump(mode="json") for ln in r.proposed_service_lines],
        coder_version=r.coder_version, payer_id=enc.get("payer_id", ""), date_of_service=enc.get("date_of_service"),
        resolved_by="", resolution_id=""))
    if cur is not None:
        ReviewItemReason.objects.filter(item=item).delete()
    ReviewItemReason.objects.bulk_create([ReviewItemReason(item=item, code=c) for c in codes])
    _timeline(f"review:{r.encounter_id}:{r.encounter_version}:{_ms(r.routed_at)}", r.encounter_id, "", "review", r.routed_at,
              "coder", "sent to coding review: " + ", ".join(codes))


def coded(c: CodedEncounter) -> None:
    from claimflow.ids import claim_id

    human = bool(c.service_lines) and all(ln.provenance is Provenance.REVIEWED for ln in c.service_lines)
    actor = "rule"
    if human and RESOLUTION_MARK in c.coder_version:
        rid = c.coder_version.split(RESOLUTION_MARK, 1)[1].strip()
        actor = Resolution.objects.filter(resolution_id=rid).values_list("resolved_by", flat=True).first() or "a person"
    elif any(ln.rule_id.startswith("LEARNED") for ln in c.service_lines) or any(d.rule_id.startswith("LEARNED") for d in c.diagnoses):
        actor = "learned"
    ReviewItem.objects.filter(encounter_id=c.encounter_id, encounter_version__lte=c.encounter_version).update(status=ReviewStatus.CODED)
    codes = ", ".join([d.code for d in c.diagnoses] + [ln.code + ("-" + "-".join(ln.modifiers) if ln.modifiers else "") for ln in c.service_lines])
    _timeline(f"coded:{c.encounter_id}:{c.encounter_version}", c.encounter_id, claim_id(c.encounter_id, c.encounter_version),
              "coded", c.coded_at, actor, f"coded ({'by ' + actor if human else 'by ' + actor}): {codes}")


def claim(cl: Claim, at: datetime | None = None) -> None:
    ClaimRecord.objects.update_or_create(claim_id=cl.claim_id, defaults=dict(
        encounter_id=cl.encounter_id, state="created", payer_id=cl.coverage.payer_id if cl.coverage else "",
        date_of_service=cl.date_of_service, total_charge=cl.total_charge, document=cl.model_dump(mode="json"),
        updated_at=cl.created_at))
    was_held = HeldClaimRecord.objects.filter(claim_id=cl.claim_id).update(open=False)
    warn = len(cl.findings)
    # a claim released after a correction keeps its created_at: its release is when it was written
    when = max(cl.created_at, at) if (was_held and at is not None) else cl.created_at
    _timeline(f"claim:{cl.claim_id}:{cl.frequency_code}", cl.encounter_id, cl.claim_id, "scrubbed", when, "scrubber",
              f"scrubbed clean, claim created (total {cl.total_charge}, {warn} warning(s))")


def held(h: HeldClaim) -> None:
    cl = h.claim
    ClaimRecord.objects.update_or_create(claim_id=h.claim_id, defaults=dict(
        encounter_id=cl.encounter_id, state="held", payer_id=cl.coverage.payer_id if cl.coverage else "",
        date_of_service=cl.date_of_service, total_charge=cl.total_charge, document=cl.model_dump(mode="json"),
        updated_at=h.held_at))
    HeldClaimRecord.objects.update_or_create(claim_id=h.claim_id, defaults=dict(
        held_at=h.held_at, error_count=h.error_count, findings=[f.model_dump(mode="json") for f in cl.findings], open=True))
    rules = ", ".join(sorted({f.rule_id for f in cl.findings if f.severity.value == "error"}))
    _timeline(f"held:{h.claim_id}:{_ms(h.held_at)}", cl.encounter_id, h.claim_id, "held", h.held_at, "scrubber",
              f"held by the scrubber: {h.error_count} error(s) ({rules})")


def status(s: ClaimStatusChanged) -> None:
    rec = ClaimRecord.objects.filter(claim_id=s.claim_id).first()
    if rec is not None and rec.updated_at <= s.occurred_at:
        rec.state, rec.updated_at = s.state.value, s.occurred_at
        rec.save(update_fields=["state", "updated_at"])
    detail = s.state.value + (f" ({s.reason})" if s.reason else "") + (f" paid {s.paid}" if s.paid is not None else "")
    _timeline(f"status:{s.event_id}", rec.encounter_id if rec else "", s.claim_id, s.state.value, s.occurred_at, s.source_service, detail)


def resolution(r: CodingResolution) -> None:
    _, created = Resolution.objects.get_or_create(resolution_id=r.resolution_id, defaults=dict(
        encounter_id=r.encounter_id, encounter_version=r.encounter_version, action=r.action.value, resolved_by=r.resolved_by,
        resolved_role=r.resolved_role, resolved_at=r.resolved_at, reason=r.reason,
        before={"diagnoses": [d.model_dump(mode="json") for d in r.before_diagnoses],
                "service_lines": [ln.model_dump(mode="json") for ln in r.before_service_lines]},
        after={"diagnoses": [d.model_dump(mode="json") for d in r.diagnoses],
               "service_lines": [ln.model_dump(mode="json") for ln in r.service_lines]}))
    new_status = ReviewStatus.QUERIED if r.action is ResolutionAction.QUERY_PROVIDER else ReviewStatus.SUBMITTED
    ReviewItem.objects.filter(encounter_id=r.encounter_id, encounter_version=r.encounter_version, routed_at=r.review_routed_at,
                              status=ReviewStatus.OPEN).update(status=new_status, resolved_by=r.resolved_by,
                                                               resolution_id=r.resolution_id)
    what = {"accept": "accepted the proposal", "edit": "edited the codes", "query_provider": "sent back for documentation"}[r.action.value]
    _timeline(f"resolution:{r.resolution_id}", r.encounter_id, "", "resolved", r.resolved_at, r.resolved_by,
              f"{r.resolved_by} ({r.resolved_role}) {what}")


def correction(c: ClaimCorrection) -> None:
    _timeline(f"corrected:{c.correction_id}", c.claim.encounter_id, c.claim_id, "corrected", c.submitted_at, c.corrected_by,
              f"corrected by {c.corrected_by}")


ROUTES: dict[str, tuple[topics.TopicSpec, type[Contract], object]] = {
    spec.name: (spec, model, fn) for spec, model, fn in (
        (topics.ENCOUNTERS, EncounterEvent, encounter),
        (topics.CODING_REVIEW, CodingReviewItem, review_item),
        (topics.ENCOUNTERS_CODED, CodedEncounter, coded),
        (topics.CLAIMS, Claim, claim),
        (topics.CLAIMS_HELD, HeldClaim, held),
        (topics.CLAIMS_STATUS, ClaimStatusChanged, status),
        (topics.CODING_RESOLUTIONS, CodingResolution, resolution),
        (topics.CLAIMS_CORRECTED, ClaimCorrection, correction),
        (topics.ADJUDICATIONS, Adjudication, denials.remittance),
        (topics.APPEALS, DenialWorkItem, denials.denial_work_item),
        (topics.UNDERPAYMENTS, UnderpaymentWorkItem, denials.underpayment_work_item),
        (topics.APPEAL_ACTIONS, AppealAction, denials.action),
        (topics.APPEAL_OUTCOMES, AppealOutcome, denials.outcome),
        (topics.NO_ACTION, NoActionDisposition, denials.no_action),
    )
}


def project(topic: str, record: Contract, written_at: datetime | None = None) -> None:
    """Apply one decoded event to the read model, in one transaction. ``written_at`` is the
    record's Kafka timestamp (used where the event carries no time of its own)."""
    _, _, fn = ROUTES[topic]
    with transaction.atomic():
        if fn is claim:
            fn(record, written_at)
        else:
            fn(record)
