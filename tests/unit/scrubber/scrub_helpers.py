"""Builders for scrubber unit tests (synthetic, no real PHI)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from claimflow.models import (
    AdministrativeSex,
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    Coverage,
    EditFamily,
    MdmLevel,
    Patient,
    PatientStatus,
    PlanType,
    ProcedureCodeType,
    Provenance,
    Provider,
    SubscriberRelationship,
    VisitType,
)

DOS = date(2026, 6, 15)  # FY2026: the simple-icd-10-cm release year
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
BILLING_NPI = "1234567893"
RENDERING_NPI = "1245319599"

PAYERS = {
    "MCR01": ("Medicare Part B (synthetic)", PlanType.MEDICARE, None),
    "MCD17": ("State Medicaid (synthetic)", PlanType.MEDICAID, None),
    "BCX22": ("Blue Example Health", PlanType.COMMERCIAL, "G1234"),
    "AET45": ("Example Mutual Insurance", PlanType.COMMERCIAL, "G5678"),
}


def line(code: str, mods: list[str] | None = None, units: int = 1, charge: str = "100.00", ptr: list[int] | None = None) -> dict:
    return {"code": code, "modifiers": mods or [], "units": units, "charge": Decimal(charge), "pointers": ptr or [1]}


def coded(lines: list[dict] | None = None, dx: list[str] | None = None, *, dos: date = DOS, payer: str | None = "MCR01",
          pos: str = "11", visit: VisitType = VisitType.OFFICE, status: PatientStatus = PatientStatus.ESTABLISHED,
          minutes: int | None = 25, mdm: MdmLevel | None = MdmLevel.LOW, dob: date = date(1960, 5, 5),
          sex: AdministrativeSex = AdministrativeSex.MALE, patient_id: str = "MRN-T-0001", encounter_id: str = "ENC-T-0001",
          version: int = 1, billing_npi: str = BILLING_NPI, rendering_npi: str = RENDERING_NPI, tax_id: str | None = "123456789",
          group_number: str | None = "auto") -> CodedEncounter:
    lines = lines if lines is not None else [line("99213")]
    dx = dx if dx is not None else ["I10", "E11.9"]
    coverage = None
    if payer is not None:
        name, plan, grp = PAYERS.get(payer, ("Other payer", PlanType.OTHER, None))
        coverage = Coverage(payer_id=payer, payer_name=name, plan_type=plan, member_id="M123456789",
                            group_number=grp if group_number == "auto" else group_number, relationship=SubscriberRelationship.SELF)
    return CodedEncounter(
        encounter_id=encounter_id, encounter_version=version, coded_at=NOW,
        patient=Patient(patient_id=patient_id, first_name="Test", last_name="Patient", date_of_birth=dob, sex=sex),
        coverage=coverage,
        rendering_provider=Provider(npi=rendering_npi, name="Dr. Example"),
        billing_provider=Provider(npi=billing_npi, name="Example Practice", tax_id=tax_id),
        date_of_service=dos, place_of_service=pos, visit_type=visit, patient_status=status,
        total_time_minutes=minutes, mdm_level=mdm,
        diagnoses=[CodedDiagnosis(sequence=i, code=c, confidence=1.0, rule_id="T", code_set_version="T") for i, c in enumerate(dx, 1)],
        service_lines=[CodedServiceLine(line_number=i, code=l["code"],
                                        code_type=ProcedureCodeType.HCPCS if l["code"][0].isalpha() else ProcedureCodeType.CPT,
                                        modifiers=l["modifiers"], units=l["units"], charge=l["charge"], diagnosis_pointers=l["pointers"],
                                        provenance=Provenance.DOCUMENTED, confidence=1.0, rule_id="T", code_set_version="T")
                       for i, l in enumerate(lines, 1)],
        confidence=1.0, coder_version="test",
    )


def rule_ids(findings, family: EditFamily | None = None) -> list[str]:
    return sorted(f.rule_id for f in findings if family is None or f.family == family)
