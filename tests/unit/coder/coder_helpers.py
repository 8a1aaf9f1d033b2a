"""Builders for the coder's unit tests (synthetic data only)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from claimflow.models import EncounterEvent

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=timezone.utc)


def dx(code=None, display="documented condition", system=ICD, primary=False):
    return {"system": system if code else None, "code": code, "display": display, "is_primary": primary}


def px(code=None, display="service", system=CPT, units=1, modifiers=None, laterality=None, charge=None):
    return {"system": system if code else None, "code": code, "display": display, "units": units,
            "modifiers": modifiers or [], "laterality": laterality, "charge": charge}


def make_enc(*, dos=date(2026, 3, 10), dob=date(1975, 1, 20), visit="office", status="established", minutes=None,
             mdm=None, dxs=(), pxs=(), version=1, pos="11", plan="commercial") -> EncounterEvent:
    return EncounterEvent.model_validate({
        "encounter_id": "ENC-UNIT-1", "version": version, "source_system": "unit",
        "occurred_at": f"{dos.isoformat()}T17:00:00+00:00",
        "patient": {"patient_id": "P1", "first_name": "Zed", "last_name": "Quarry", "date_of_birth": dob.isoformat(),
                    "sex": "female", "address": None},
        "coverage": {"payer_id": "X1", "payer_name": "Payer", "plan_type": plan, "member_id": "MEMBER-SECRET-9",
                     "group_number": None, "relationship": "self"},
        "rendering_provider": {"npi": "1234567893", "name": "Dr. A", "taxonomy": None, "tax_id": None},
        "billing_provider": {"npi": "1234567893", "name": "Practice", "taxonomy": None, "tax_id": "123456789"},
        "date_of_service": dos.isoformat(), "place_of_service": pos, "visit_type": visit, "patient_status": status,
        "total_time_minutes": minutes, "mdm_level": mdm, "diagnoses": list(dxs), "procedures": list(pxs), "note_text": None,
    })


def reason_codes(result) -> list[str]:
    return [r.code for r in result.review.reasons] if result.review else []


def line_tokens(result) -> list[str]:
    coded = result.coded
    return ["-".join([ln.code, *ln.modifiers]) for ln in coded.service_lines]
