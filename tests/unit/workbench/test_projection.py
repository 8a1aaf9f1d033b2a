"""The projector's rules on a real SQLite read model: idempotent under redelivery, order
between topics does not matter, older routings never overwrite newer ones."""

from __future__ import annotations

from decimal import Decimal

from claimflow import topics
from claimflow.ids import claim_id
from claimflow.models import ClaimStatusChanged, CodedDiagnosis, CodedEncounter, CodingResolution, Provenance, ResolutionAction

from .builders import T0, encounter, later, line, review


def project(topic, record):
    from services.workbench.projection import project as apply  # after Django is set up (fixture db)

    apply(topic, record)


def models():
    from services.workbench import models as m

    return m


def test_review_item_gets_payer_and_dos_whichever_topic_comes_first(db):
    m = models()
    project(topics.CODING_REVIEW.name, review("ENC-A"))
    project(topics.ENCOUNTERS.name, encounter("ENC-A", payer="PAYER-A"))
    project(topics.ENCOUNTERS.name, encounter("ENC-B", payer="PAYER-B"))
    project(topics.CODING_REVIEW.name, review("ENC-B"))
    a, b = m.ReviewItem.objects.get(pk="ENC-A"), m.ReviewItem.objects.get(pk="ENC-B")
    assert (a.payer_id, str(a.date_of_service)) == ("PAYER-A", "2026-03-10")
    assert (b.payer_id, str(b.date_of_service)) == ("PAYER-B", "2026-03-10")
    assert a.status == "open" and a.primary_reason == "DX_HEADER_CODE"


def test_redelivered_review_item_is_one_row_with_one_set_of_reasons(db):
    m = models()
    item = review("ENC-R", reasons=("DX_HEADER_CODE", "EM_UNSUPPORTED"))
    for _ in range(3):
        project(topics.CODING_REVIEW.name, item)
    assert m.ReviewItem.objects.count() == 1
    assert sorted(m.ReviewItemReason.objects.values_list("code", flat=True)) == ["DX_HEADER_CODE", "EM_UNSUPPORTED"]
    assert m.TimelineEvent.objects.filter(kind="review").count() == 1


def test_an_older_routing_never_overwrites_a_newer_one(db):
    m = models()
    project(topics.CODING_REVIEW.name, review("ENC-O", routed_at=later(10), reasons=("EM_UNSUPPORTED",)))
    project(topics.CODING_REVIEW.name, review("ENC-O", routed_at=T0, reasons=("DX_HEADER_CODE",)))
    it = m.ReviewItem.objects.get(pk="ENC-O")
    assert it.primary_reason == "EM_UNSUPPORTED" and it.routed_at == later(10)


def _resolution(eid="ENC-S", routed_at=T0, action=ResolutionAction.EDIT) -> CodingResolution:
    return CodingResolution(
        resolution_id="RS-1", encounter_id=eid, encounter_version=1, review_routed_at=routed_at, action=action,
        resolved_by="alice", resolved_role="coder", resolved_at=later(5), reason="documented as type 2 without complications",
        diagnoses=[CodedDiagnosis(sequence=1, code="E11.9", provenance="reviewed", confidence=1.0, rule_id="HUMAN-REVIEW-001",
                                  code_set_version="FY2026")],
        service_lines=[line()])


def test_resolution_marks_the_routing_it_names_and_is_idempotent(db):
    m = models()
    project(topics.CODING_REVIEW.name, review("ENC-S"))
    for _ in range(2):
        project(topics.CODING_RESOLUTIONS.name, _resolution())
    it = m.ReviewItem.objects.get(pk="ENC-S")
    assert (it.status, it.resolved_by, it.resolution_id) == ("submitted", "alice", "RS-1")
    assert m.Resolution.objects.count() == 1 and m.TimelineEvent.objects.filter(kind="resolved").count() == 1
    # a resolution of an older routing leaves a re-routed item open
    project(topics.CODING_REVIEW.name, review("ENC-T", routed_at=later(30)))
    project(topics.CODING_RESOLUTIONS.name, _resolution("ENC-T", routed_at=T0).model_copy(update={"resolution_id": "RS-2"}))
    assert m.ReviewItem.objects.get(pk="ENC-T").status == "open"


def test_human_coded_encounter_closes_the_item_and_names_the_person_on_the_timeline(db):
    m = models()
    enc = encounter("ENC-H")
    project(topics.ENCOUNTERS.name, enc)
    project(topics.CODING_REVIEW.name, review("ENC-H"))
    project(topics.CODING_RESOLUTIONS.name, _resolution("ENC-H"))
    coded = CodedEncounter(
        encounter_id="ENC-H", encounter_version=1, coded_at=later(6), patient=enc.patient, coverage=enc.coverage,
        rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider, date_of_service=enc.date_of_service,
        place_of_service="11", visit_type="office", patient_status="established",
        diagnoses=[CodedDiagnosis(sequence=1, code="E11.9", provenance="reviewed", confidence=1.0, rule_id="HUMAN-REVIEW-001",
                                  code_set_version="FY2026")],
        service_lines=[line().model_copy(update={"provenance": Provenance.REVIEWED, "rule_id": "HUMAN-REVIEW-001"})],
        confidence=1.0, coder_version="coder-0.2.0 resolution RS-1")
    project(topics.ENCOUNTERS_CODED.name, coded)
    project(topics.ENCOUNTERS_CODED.name, coded)
    assert m.ReviewItem.objects.get(pk="ENC-H").status == "coded"
    ev = m.TimelineEvent.objects.get(kind="coded")
    assert ev.actor == "alice" and ev.claim_id == claim_id("ENC-H", 1) and "E11.9" in ev.detail
    status = ClaimStatusChanged(event_id="ST-1", claim_id=claim_id("ENC-H", 1), state="submitted", occurred_at=later(8),
                                source_service="payer-gateway", charge=Decimal("120.00"))
    project(topics.CLAIMS_STATUS.name, status)
    project(topics.CLAIMS_STATUS.name, status)
    kinds = list(m.TimelineEvent.objects.filter(encounter_id="ENC-H").order_by("at").values_list("kind", flat=True))
    assert kinds == ["review", "resolved", "coded"]  # the status event arrived before its claim: kept by claim id
    assert m.TimelineEvent.objects.filter(claim_id=claim_id("ENC-H", 1), kind="submitted").count() == 1
    # no PHI on the timeline
    assert not m.TimelineEvent.objects.filter(detail__icontains="Quarry").exists()


def test_learned_coding_shows_its_provenance_on_the_timeline(db):
    m = models()
    enc = encounter("ENC-L")
    project(topics.ENCOUNTERS.name, enc)
    note = "learned from 3 coder decisions (SNOMED CT 271594007)"
    coded = CodedEncounter(
        encounter_id="ENC-L", encounter_version=1, coded_at=later(2), patient=enc.patient, coverage=enc.coverage,
        rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider, date_of_service=enc.date_of_service,
        place_of_service="11", visit_type="office", patient_status="established",
        diagnoses=[CodedDiagnosis(sequence=1, code="R55", provenance=Provenance.LEARNED, confidence=0.95, rule_id="LEARNED-001",
                                  code_set_version="FY2026", source_system="http://snomed.info/sct", source_code="271594007",
                                  provenance_note=note)],
        service_lines=[line()], confidence=0.95, coder_version="coder-0.2.0 learned")
    project(topics.ENCOUNTERS_CODED.name, coded)
    ev = m.TimelineEvent.objects.get(kind="coded", encounter_id="ENC-L")
    assert ev.actor == "learned"
    assert ev.detail == f"coded (by learning): R55, 99213; R55: {note}"
