"""Scrubber domain logic (pure). Walking skeleton: builds the claim from a coded
encounter and applies required-data and NPI edits; errors hold the claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from claimflow.ids import claim_id as make_claim_id
from claimflow.models import (
    Claim,
    CodedEncounter,
    EditFamily,
    EditFinding,
    HeldClaim,
    ServiceLine,
    Severity,
)


def npi_is_valid(npi: str) -> bool:
    """NPI check digit: Luhn over the prefix 80840 + the first 9 digits (CMS NPI standard)."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed("80840" + npi[:9])):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def build_claim(coded: CodedEncounter, now: datetime) -> Claim:
    lines = [
        ServiceLine(line_number=l.line_number, procedure_code=l.code, modifiers=list(l.modifiers), units=l.units,
                    charge=l.charge, diagnosis_pointers=list(l.diagnosis_pointers))
        for l in coded.service_lines
    ]
    return Claim(
        claim_id=make_claim_id(coded.encounter_id, coded.encounter_version),
        encounter_id=coded.encounter_id, encounter_version=coded.encounter_version, created_at=now,
        patient=coded.patient, coverage=coded.coverage, rendering_provider=coded.rendering_provider,
        billing_provider=coded.billing_provider, date_of_service=coded.date_of_service,
        place_of_service=coded.place_of_service, diagnoses=[d.code for d in sorted(coded.diagnoses, key=lambda d: d.sequence)],
        lines=lines, total_charge=sum((l.charge for l in lines), Decimal("0.00")),
    )


def _finding(rule_id: str, family: EditFamily, message: str, fix: str, lines: list[int] | None = None) -> EditFinding:
    return EditFinding(rule_id=rule_id, family=family, severity=Severity.ERROR, line_numbers=lines or [],
                       message=message, suggested_fix=fix)


def required_data_findings(claim: Claim) -> list[EditFinding]:
    out = []
    if claim.coverage is None:
        out.append(_finding("REQ-001", EditFamily.REQUIRED_DATA, "claim has no primary coverage (2000B subscriber, 2010BB payer)", "add the patient's coverage and payer id"))
    if not claim.diagnoses:
        out.append(_finding("REQ-002", EditFamily.REQUIRED_DATA, "claim has no diagnosis (HI segment)", "code at least one diagnosis"))
    if not claim.lines:
        out.append(_finding("REQ-003", EditFamily.REQUIRED_DATA, "claim has no service line (2400)", "code at least one service"))
    for line in claim.lines:
        if any(p < 1 or p > len(claim.diagnoses) for p in line.diagnosis_pointers) or not line.diagnosis_pointers:
            out.append(_finding("REQ-004", EditFamily.REQUIRED_DATA, "diagnosis pointer does not point at a claim diagnosis (SV107)", "point the line at a listed diagnosis", [line.line_number]))
    if not claim.billing_provider.tax_id:
        out.append(_finding("REQ-005", EditFamily.REQUIRED_DATA, "billing provider has no tax id (2010AA REF*EI)", "add the billing provider EIN"))
    for role, prov in (("billing", claim.billing_provider), ("rendering", claim.rendering_provider)):
        if not npi_is_valid(prov.npi):
            out.append(_finding("NPI-001", EditFamily.NPI, f"{role} provider NPI fails the check digit", f"correct the {role} provider NPI"))
    return out


@dataclass(frozen=True)
class ScrubResult:
    claim: Claim | None
    held: HeldClaim | None


def scrub(coded: CodedEncounter, now: datetime) -> ScrubResult:
    claim = build_claim(coded, now)
    findings = required_data_findings(claim)
    claim = claim.model_copy(update={"findings": findings})
    errors = [f for f in findings if f.severity == Severity.ERROR]
    if errors:
        families = sorted({f.family for f in errors}, key=lambda f: f.value)
        return ScrubResult(None, HeldClaim(claim_id=claim.claim_id, claim=claim, held_at=now, error_count=len(errors), rule_families=families))
    return ScrubResult(claim, None)
