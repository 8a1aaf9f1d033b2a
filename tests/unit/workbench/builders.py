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
