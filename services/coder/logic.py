"""Coder domain logic (pure: imports neither Faust nor Kafka).

Walking-skeleton rules: documented ICD-10-CM and CPT/HCPCS codes pass through after a
format check; anything else goes to human review with a machine-readable reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from claimflow.models import (
    ChargeSource,
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    CodingReviewItem,
    EncounterEvent,
    ProcedureCodeType,
    Provenance,
    ReviewReason,
)

CODER_VERSION = "coder-0.1.0"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10_RE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
CPT_RE = re.compile(r"^[0-9]{4}[0-9FTU]$")
HCPCS_RE = re.compile(r"^[A-V][0-9]{4}$")
DEFAULT_CHARGE = Decimal("100.00")


@dataclass(frozen=True)
class CodingResult:
    coded: CodedEncounter | None
    review: CodingReviewItem | None


def code_encounter(enc: EncounterEvent, now: datetime) -> CodingResult:
    reasons: list[ReviewReason] = []
    diagnoses: list[CodedDiagnosis] = []
    for i, dx in enumerate(enc.diagnoses):
        if dx.system == ICD10CM_SYSTEM and dx.code and ICD10_RE.match(dx.code):
            diagnoses.append(CodedDiagnosis(
                sequence=len(diagnoses) + 1, code=dx.code, provenance=Provenance.DOCUMENTED, confidence=1.0,
                rule_id="DX-DOC-001", code_set_version="ICD-10-CM", source_system=dx.system, source_code=dx.code,
            ))
        else:
            reasons.append(ReviewReason(code="DX_NOT_CODED", message="diagnosis is not a documented ICD-10-CM code", subject=f"diagnosis[{i}]"))
    lines: list[CodedServiceLine] = []
    for i, px in enumerate(enc.procedures):
        code = px.code or ""
        if px.system in (CPT_SYSTEM, HCPCS_SYSTEM) and (CPT_RE.match(code) or HCPCS_RE.match(code)):
            lines.append(CodedServiceLine(
                line_number=len(lines) + 1, code=code,
                code_type=ProcedureCodeType.HCPCS if HCPCS_RE.match(code) else ProcedureCodeType.CPT,
                modifiers=list(px.modifiers), units=px.units,
                charge=px.charge if px.charge is not None else DEFAULT_CHARGE,
                charge_source=ChargeSource.DOCUMENTED if px.charge is not None else ChargeSource.FEE_SCHEDULE,
                diagnosis_pointers=list(range(1, min(len(diagnoses), 4) + 1)) or [1],
                provenance=Provenance.DOCUMENTED, confidence=1.0, rule_id="PX-DOC-001", code_set_version="CPT/HCPCS",
            ))
        else:
            reasons.append(ReviewReason(code="PROC_NOT_CODED", message="procedure is not a documented CPT/HCPCS code", subject=f"procedure[{i}]"))
    if not diagnoses:
        reasons.append(ReviewReason(code="MISSING_DOCUMENTATION", message="no codable diagnosis"))
    if not lines:
        reasons.append(ReviewReason(code="MISSING_DOCUMENTATION", message="no codable procedure"))
    if reasons:
        return CodingResult(None, CodingReviewItem(
            encounter_id=enc.encounter_id, encounter_version=enc.version, routed_at=now, reasons=reasons,
            confidence=0.0, proposed_diagnoses=diagnoses, proposed_service_lines=lines, coder_version=CODER_VERSION,
        ))
    return CodingResult(CodedEncounter(
        encounter_id=enc.encounter_id, encounter_version=enc.version, coded_at=now, patient=enc.patient,
        coverage=enc.coverage, rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider,
        date_of_service=enc.date_of_service, place_of_service=enc.place_of_service, visit_type=enc.visit_type,
        patient_status=enc.patient_status, total_time_minutes=enc.total_time_minutes, mdm_level=enc.mdm_level,
        diagnoses=diagnoses, service_lines=lines, confidence=1.0, coder_version=CODER_VERSION,
    ), None)
