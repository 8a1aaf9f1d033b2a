"""The projector's batch apply on a real SQLite read model: a batch in one transaction
leaves exactly what the same events applied one by one leave, whatever the batch sizes,
with redelivery inside a batch and across batches and with events of different topics out
of order; a batch whose transaction fails leaves nothing."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest

from claimflow import topics
from claimflow.ids import claim_id
from claimflow.models import (
    ClaimStatusChanged,
    CodedDiagnosis,
    CodedEncounter,
    CodingResolution,
    EditFamily,
    EditFinding,
    HeldClaim,
    Provenance,
    ResolutionAction,
    Severity,
)
from tests.unit.adjudicator.adj_helpers import make_claim

from .builders import T0, encounter, later, line, review


def _coded(eid: str, rid: str | None) -> CodedEncounter:
    enc = encounter(eid)
    prov = Provenance.REVIEWED if rid else Provenance.DOCUMENTED
    return CodedEncounter(
        encounter_id=eid, encounter_version=1, coded_at=later(20), patient=enc.patient, coverage=enc.coverage,
        rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider, date_of_service=enc.date_of_service,
        place_of_service="11", visit_type="office", patient_status="established",
        diagnoses=[CodedDiagnosis(sequence=1, code="E11.9", provenance=prov, confidence=1.0, rule_id="HUMAN-REVIEW-001",
                                  code_set_version="FY2026")],
        service_lines=[line().model_copy(update={"provenance": prov})], confidence=1.0,
        coder_version=f"coder-0.2.0 resolution {rid}" if rid else "coder-0.2.0")


def _resolution(eid: str, rid: str, routed_at) -> CodingResolution:
    return CodingResolution(
        resolution_id=rid, encounter_id=eid, encounter_version=1, review_routed_at=routed_at, action=ResolutionAction.EDIT,
        resolved_by=f"user-{rid}", resolved_role="coder", resolved_at=later(15), reason="documented",
        diagnoses=[CodedDiagnosis(sequence=1, code="E11.9", provenance="reviewed", confidence=1.0, rule_id="HUMAN-REVIEW-001",
                                  code_set_version="FY2026")], service_lines=[line()])


def _held(n: int, minutes: int) -> HeldClaim:
    finding = EditFinding(rule_id="MUE-001", family=EditFamily.MUE, severity=Severity.ERROR, line_numbers=[1], source_row={},
                          message="units over the limit")
    cl = make_claim(n, findings=[finding])
    return HeldClaim(claim_id=cl.claim_id, claim=cl, held_at=later(minutes), error_count=1)


def _pool() -> list[tuple[str, object]]:
    ev = []
    for n in range(1, 5):
        eid = f"ENC-T{n}"
        ev += [(topics.ENCOUNTERS.name, encounter(eid, payer=f"PAYER-{n}")),
               (topics.ENCOUNTERS.name, encounter(eid, version=2, payer=f"PAYER-{n}-V2")),
               (topics.CODING_REVIEW.name, review(eid, routed_at=T0, reasons=("DX_HEADER_CODE",))),
               (topics.CODING_REVIEW.name, review(eid, routed_at=later(10), reasons=("EM_UNSUPPORTED", "DX_HEADER_CODE"))),
               (topics.CODING_RESOLUTIONS.name, _resolution(eid, f"RS-{n}", later(10))),
               (topics.CODING_RESOLUTIONS.name, _resolution(eid, f"RS-{n}-OLD", T0)),
               (topics.ENCOUNTERS_CODED.name, _coded(eid, f"RS-{n}" if n % 2 else None)),
               (topics.CLAIMS_HELD.name, _held(n, 30)),
               (topics.CLAIMS.name, make_claim(n)),
               (topics.CLAIMS_STATUS.name, ClaimStatusChanged(event_id=f"ST-{n}", claim_id=claim_id(eid, 1), state="submitted",
                                                              occurred_at=later(40), source_service="payer-gateway",
                                                              charge=Decimal("110.00"))),
               (topics.CLAIMS_STATUS.name, ClaimStatusChanged(event_id=f"ST-{n}-EARLY", claim_id=claim_id(eid, 1), state="acknowledged",
                                                              occurred_at=T0 - timedelta(days=40), source_service="payer-gateway",
                                                              charge=Decimal("110.00")))]
    return ev


def _snapshot() -> dict:
    from django.apps import apps

    snap = {}
    for model in apps.get_app_config("workbench").get_models():
        if model.__name__ in ("AccessLog", "PasswordState"):
            continue
        rows = list(model.objects.values())
        for r in rows:
            r.pop("id", None)  # ReviewItemReason's surrogate key
        snap[model.__name__] = sorted(rows, key=repr)
    return snap


def _clear() -> None:
    from django.apps import apps

    for model in apps.get_app_config("workbench").get_models():
        model.objects.all().delete()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_batches_leave_what_one_by_one_leaves_with_redelivery_and_any_order(db, seed):
    from services.workbench.projection import project

    rng = random.Random(seed)
    pool = _pool()
    events = [rng.choice(pool) for _ in range(70)]  # any order across topics (repeats: the same event produced twice)
    at = later(50)
    for topic, record in events:
        project(topic, record, at)
    expected = _snapshot()
    assert expected["ReviewItem"] and expected["ClaimRecord"] and expected["TimelineEvent"]
    _clear()
    _batches(events, rng, at)
    assert _snapshot() == expected
    # redelivery: every event delivered once more right after itself, inside a batch or across a batch boundary
    _clear()
    _batches([e for e in events for _ in range(rng.choice((1, 2, 3)))], rng, at)
    assert _snapshot() == expected


def _batches(events, rng, at) -> None:
    from services.workbench.projection import apply_batch

    i = 0
    while i < len(events):
        size = rng.randint(1, 25)
        apply_batch([(t, r, at) for t, r in events[i:i + size]])
        i += size


def test_out_of_order_in_one_batch_review_before_its_encounter_and_newer_before_older(db):
    from services.workbench import models as m
    from services.workbench.projection import apply_batch

    apply_batch([(topics.CODING_REVIEW.name, review("ENC-X", routed_at=later(10), reasons=("EM_UNSUPPORTED",)), None),
                 (topics.ENCOUNTERS.name, encounter("ENC-X", version=2, payer="PAYER-NEW"), None),
                 (topics.ENCOUNTERS.name, encounter("ENC-X", version=1, payer="PAYER-OLD"), None),
                 (topics.CODING_REVIEW.name, review("ENC-X", routed_at=T0, reasons=("DX_HEADER_CODE",)), None),
                 (topics.CODING_REVIEW.name, review("ENC-X", routed_at=later(10), reasons=("EM_UNSUPPORTED",)), None)])
    it = m.ReviewItem.objects.get(pk="ENC-X")
    assert (it.payer_id, it.primary_reason, it.routed_at) == ("PAYER-NEW", "EM_UNSUPPORTED", later(10))
    assert list(m.ReviewItemReason.objects.values_list("code", flat=True)) == ["EM_UNSUPPORTED"]
    assert m.Encounter.objects.get(pk="ENC-X").version == 2
    assert m.TimelineEvent.objects.filter(kind="review").count() == 1


def test_a_failing_batch_writes_nothing(db):
    from services.workbench import models as m
    from services.workbench.projection import apply_batch

    with pytest.raises(Exception):
        apply_batch([(topics.ENCOUNTERS.name, encounter("ENC-F"), None),
                     (topics.CODING_REVIEW.name, review("ENC-F"), None),
                     (topics.CLAIMS.name, "not a claim", None)])
    assert not m.Encounter.objects.exists() and not m.ReviewItem.objects.exists() and not m.TimelineEvent.objects.exists()
