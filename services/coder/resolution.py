"""Human coding decisions, checked with the coder's own rules (pure: no Faust, no Kafka).

The workbench runs ``check_human_codes`` on the form before it publishes a
CodingResolution (invalid or non-billable code -> form error, nothing published); the coder
runs it again when it applies the resolution (``apply_resolution``), because the event is
the contract, not the form: an invalid code sends the encounter back to review with the
finding. Valid codes become a CodedEncounter whose every code has provenance ``reviewed``
and rule id HUMAN-REVIEW-001."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from claimflow.models import (
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    CodingResolution,
    CodingReviewItem,
    EncounterEvent,
    ProcedureCodeType,
    Provenance,
    ResolutionAction,
    ReviewReason,
)
from services.coder.icd10 import add_dot, strip_dot
from services.coder.logic import CODER_VERSION, CPT_RE, HCPCS_RE, MAX_DX, MAX_POINTERS, MODIFIER_RE, PROC_REF_VERSION
from services.coder.reference import CodingReference

HUMAN_RULE_ID = "HUMAN-REVIEW-001"


@dataclass(frozen=True)
class DraftLine:
    """A service line as a person entered it."""

    code: str
    modifiers: tuple[str, ...] = ()
    units: int = 1
    pointers: tuple[int, ...] = (1,)


@dataclass
class HumanCoding:
    diagnoses: list[str]  # dotted ICD-10-CM codes, claim order
    lines: list[DraftLine]
    findings: list[ReviewReason] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _finding(code: str, message: str, subject: str | None = None, candidates: list[str] | None = None) -> ReviewReason:
    return ReviewReason(code=code, message=message, subject=subject, candidates=list(candidates or [])[:25])


def normalize_dx(code: str) -> str:
    key = strip_dot(code.strip().upper())
    return add_dot(key) if key else ""


def check_human_codes(ref: CodingReference, dos: date, diagnoses: list[str], lines: list[DraftLine]) -> HumanCoding:
    """Validate a person's codes for the date of service with the coder's code sets."""
    dx = [normalize_dx(c) for c in diagnoses if c.strip()]
    out = HumanCoding(dx, list(lines))
    choice = ref.code_set_for(dos)
    if choice.code_set is None:
        out.findings.append(_finding("DX_CODE_SET_UNAVAILABLE", choice.problem or "no ICD-10-CM code set for the date of service"))
        return out
    cs = choice.code_set
    if not dx:
        out.findings.append(_finding("MISSING_DOCUMENTATION", "at least one diagnosis is needed"))
    if len(dx) > MAX_DX:
        out.findings.append(_finding("DX_TOO_MANY", f"{len(dx)} diagnoses; a professional claim carries at most {MAX_DX}"))
    seen: set[str] = set()
    for i, code in enumerate(dx, start=1):
        subject = f"diagnosis_code[{i}]"
        if code in seen:
            out.findings.append(_finding("DX_DUPLICATE", f"{code} is listed twice", subject))
        seen.add(code)
        if not cs.exists(code):
            other = [fy for fy, s in sorted(ref.code_sets.items()) if s.exists(code)]
            if other:
                out.findings.append(_finding("DX_INVALID_FOR_DOS_YEAR", f"{code} is not valid in ICD-10-CM FY{choice.fiscal_year} "
                                             f"(the fiscal year of the date of service)", subject))
            else:
                out.findings.append(_finding("DX_UNKNOWN_CODE", f"{code} is not an ICD-10-CM code", subject))
        elif not cs.is_billable(code):
            out.findings.append(_finding("DX_HEADER_CODE", f"{code} is a header (non-billable) code in FY{choice.fiscal_year}: "
                                         "pick a billable code under it", subject, cs.billable_descendants(code, limit=25)))
    if not lines:
        out.findings.append(_finding("MISSING_DOCUMENTATION", "at least one service line is needed"))
    for n, line in enumerate(lines, start=1):
        subject = f"line[{n}]"
        code = line.code.strip().upper()
        if not (CPT_RE.match(code) or HCPCS_RE.match(code)):
            out.findings.append(_finding("PROC_INVALID_FORMAT", f"{code or '(blank)'} is neither a CPT nor a HCPCS Level II code", subject))
        if not 1 <= line.units <= 9999:
            out.findings.append(_finding("PROC_UNITS", f"units must be 1-9999, got {line.units}", subject))
        if len(line.modifiers) > 4:
            out.findings.append(_finding("MOD_TOO_MANY", "at most four modifiers per line", subject))
        for m in line.modifiers:
            if not MODIFIER_RE.match(m):
                out.findings.append(_finding("MOD_INVALID_FORMAT", f"modifier {m!r} is not two letters/digits", subject))
        if len(set(line.modifiers)) != len(line.modifiers):
            out.findings.append(_finding("MOD_DUPLICATE", "a modifier is listed twice", subject))
        if not 1 <= len(line.pointers) <= MAX_POINTERS:
            out.findings.append(_finding("DX_POINTER", f"each line points to 1-{MAX_POINTERS} diagnoses", subject))
        for p in line.pointers:
            if not 1 <= p <= len(dx):
                out.findings.append(_finding("DX_POINTER", f"pointer {p} does not point to a listed diagnosis", subject))
    return out


def code_type_of(code: str) -> ProcedureCodeType:
    return ProcedureCodeType.HCPCS if HCPCS_RE.match(code) else ProcedureCodeType.CPT


def to_coded(ref: CodingReference, dos: date, coding: HumanCoding, charges: list[Decimal]) -> tuple[list[CodedDiagnosis], list[CodedServiceLine]]:
    """Coded records for valid human codes (charges per line supplied by the caller)."""
    version = ref.code_set_for(dos).version
    dx = [CodedDiagnosis(sequence=i, code=c, provenance=Provenance.REVIEWED, confidence=1.0, rule_id=HUMAN_RULE_ID,
                         code_set_version=version) for i, c in enumerate(coding.diagnoses, start=1)]
    lines = [CodedServiceLine(line_number=n, code=ln.code.strip().upper(), code_type=code_type_of(ln.code.strip().upper()),
                              modifiers=list(ln.modifiers), units=ln.units, charge=charge.quantize(Decimal("0.01")),
                              diagnosis_pointers=list(ln.pointers), provenance=Provenance.REVIEWED, confidence=1.0,
                              rule_id=HUMAN_RULE_ID,
                              code_set_version=f"{PROC_REF_VERSION} {ref.versions.get('procedures', '')}".strip())
             for n, (ln, charge) in enumerate(zip(coding.lines, charges), start=1)]
    return dx, lines


def apply_resolution(ref: CodingReference, enc: EncounterEvent, res: CodingResolution, now: datetime) -> CodedEncounter | CodingReviewItem:
    """What the coder emits for a person's resolution: the human-coded encounter, or the
    encounter back in review with the findings (the person's codes kept as the proposal)."""
    if res.action is ResolutionAction.QUERY_PROVIDER:
        raise ValueError("a query to the provider is not coded")
    lines = [DraftLine(ln.code, tuple(ln.modifiers), ln.units, tuple(ln.diagnosis_pointers)) for ln in res.service_lines]
    coding = check_human_codes(ref, enc.date_of_service, [d.code for d in res.diagnoses], lines)
    if not coding.ok:
        reasons = [_finding("HUMAN_CODES_INVALID", f"the codes submitted by {res.resolved_by} failed the coder's checks; "
                            "see the findings below")] + coding.findings
        return CodingReviewItem(encounter_id=enc.encounter_id, encounter_version=enc.version, routed_at=now, reasons=reasons,
                                confidence=0.0, proposed_diagnoses=res.diagnoses, proposed_service_lines=res.service_lines,
                                coder_version=CODER_VERSION)
    dx, coded_lines = to_coded(ref, enc.date_of_service, coding, [ln.charge for ln in res.service_lines])
    return CodedEncounter(
        encounter_id=enc.encounter_id, encounter_version=enc.version, coded_at=now, patient=enc.patient, coverage=enc.coverage,
        rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider, date_of_service=enc.date_of_service,
        place_of_service=enc.place_of_service, visit_type=enc.visit_type, patient_status=enc.patient_status,
        total_time_minutes=enc.total_time_minutes, mdm_level=enc.mdm_level, diagnoses=dx, service_lines=coded_lines,
        confidence=1.0, coder_version=f"{CODER_VERSION} resolution {res.resolution_id}",
    )
