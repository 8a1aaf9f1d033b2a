"""Synthetic events for the workbench's unit tests (no real PHI)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from claimflow.models import CodedDiagnosis, CodedServiceLine, CodingReviewItem, EncounterEvent, ReviewReason

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)


def encounter(eid="ENC-WB-1", version=1, dos=date(2026, 3, 10), payer="PAYER-A", dx_code="E11", note="follow-up for sugar",
              patient_id="P1") -> EncounterEvent:
    return EncounterEvent.model_validate({
        "encounter_id": eid, "version": version, "source_system": "unit", "occurred_at": f"{dos.isoformat()}T17:00:00+00:00",
        "patient": {"patient_id": patient_id, "first_name": "Zed", "last_name": "Quarry", "date_of_birth": "1975-01-20", "sex": "female"},
        "coverage": {"payer_id": payer, "payer_name": "Payer A", "plan_type": "commercial", "member_id": "MEMBER-SECRET-9",
                     "relationship": "self"},
        "rendering_provider": {"npi": "1234567893", "name": "Dr. A"},
        "billing_provider": {"npi": "1234567893", "name": "Practice", "tax_id": "123456789"},
        "date_of_service": dos.isoformat(), "place_of_service": "11", "visit_type": "office", "patient_status": "established",
        "total_time_minutes": 25, "diagnoses": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": dx_code,
                                                 "display": "type 2 diabetes", "is_primary": True}],
        "procedures": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213", "display": "office visit", "units": 1,
                        "charge": "120.00"}],
        "note_text": note,
    })


def line(code="99213", units=1, charge="120.00", pointers=(1,), modifiers=()) -> CodedServiceLine:
    return CodedServiceLine(line_number=1, code=code, modifiers=list(modifiers), units=units, charge=Decimal(charge),
                            diagnosis_pointers=list(pointers), provenance="documented", confidence=1.0, rule_id="EM-DOC-001",
                            code_set_version="starter")


def review(eid="ENC-WB-1", version=1, routed_at=T0, reasons=("DX_HEADER_CODE",), dx=()) -> CodingReviewItem:
    return CodingReviewItem(
        encounter_id=eid, encounter_version=version, routed_at=routed_at, confidence=0.5, coder_version="coder-test",
        reasons=[ReviewReason(code=c, message=f"{c} message", subject="diagnosis[0]", candidates=["E11.9", "E11.65"]) for c in reasons],
        proposed_diagnoses=[CodedDiagnosis(sequence=i, code=c, confidence=0.8, rule_id="DX-DOC-001", code_set_version="FY2026")
                            for i, c in enumerate(dx, start=1)],
        proposed_service_lines=[line()],
    )


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def work_item(wid="WI-1", claim="CF-1", payer="MCR01", codes=("CO-50",), kind="appeal", denied="200.00", likelihood=0.6,
              priority=150.0, deadline=date(2026, 7, 30), level="redetermination", level_index=0, rule="DEN-010",
              family="medical_necessity", adjudication="ADJ-1", created_at=T0):
    from claimflow.models import DenialWorkItem

    return DenialWorkItem.model_validate({
        "work_item_id": wid, "claim_id": claim, "adjudication_id": adjudication, "payer_id": payer,
        "disposition": "appeal" if kind == "appeal" else "manual_review", "rule_id": rule, "reason_codes": list(codes),
        "remark_codes": ["N115"], "appeal_level": level, "deadline": deadline.isoformat() if deadline else None,
        "remittance_date": "2026-04-01", "denied_amount": denied, "overturn_likelihood": likelihood, "priority_score": priority,
        "explanation": "not medically necessary per the payer", "created_at": created_at.isoformat(), "kind": kind,
        "recoverable_amount": denied if kind != "write_off_approval" else "0.00", "level_index": level_index,
        "reason_family": family})


def underpayment(wid="UP-1", claim="CF-2", payer="BCX22", recoverable="35.00"):
    from claimflow.models import UnderpaymentWorkItem

    return UnderpaymentWorkItem.model_validate({
        "work_item_id": wid, "claim_id": claim, "adjudication_id": "ADJ-U", "payer_id": payer, "line_number": 1,
        "kind": "underpaid", "procedure_code": "99213", "adjudicated_procedure_code": "99213", "downcoded": False,
        "refund_liability": False, "expected_amount": "100.00", "allowed_amount": "65.00", "allowed_source": "835",
        "paid_amount": "65.00", "recoverable_amount": recoverable, "tolerance_amount": "1.00", "contract_term": "BCX22-FS-2026",
        "explanation": "allowed below contract", "remittance_date": "2026-04-01", "created_at": T0.isoformat()})


def appeal_action(action="filed", wid="WI-1", claim="CF-1", actor="bea", role="biller", aid=None, **fields):
    from claimflow.models import AppealAction

    body = {"action_id": aid or f"ACT-{action}-{wid}", "work_item_id": wid, "claim_id": claim, "action": action, "actor": actor,
            "actor_role": role, "occurred_at": later(30).isoformat()}
    if action == "filed":
        body.setdefault("filed_on", "2026-04-10")
    if action == "assigned":
        body.setdefault("assignee", actor)
    if action in ("withdrawn", "written_off", "resolved"):
        body.setdefault("reason", "unit reason")
    body.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()})
    return AppealAction.model_validate(body)


def appeal_outcome(outcome="overturned", wid="WI-1", claim="CF-1", payer="MCR01", carc="50", oid=None, recovered="200.00"):
    from claimflow.models import AppealOutcome

    return AppealOutcome.model_validate({
        "outcome_id": oid or f"OUT-{wid}-{outcome}", "work_item_id": wid, "claim_id": claim, "payer_id": payer, "reason_code": carc,
        "appeal_level": "redetermination", "outcome": outcome, "recovered_amount": recovered if outcome != "upheld" else "0",
        "decided_on": "2026-05-01", "received_at": later(600).isoformat()})
