"""Pure rules of the coding review screen (no Django, no Kafka): reasons in plain words,
reading the edit form, deciding accept vs edit, pricing edited lines and building the
CodingResolution. Code validity itself is the coder's rule set
(``services.coder.resolution.check_human_codes``), so the form and the coder agree."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Mapping

from claimflow.models import CodedDiagnosis, CodedServiceLine, CodingResolution, ResolutionAction
from services.coder.reference import CodingReference
from services.coder.resolution import DraftLine, HumanCoding, check_human_codes, to_coded

MAX_FORM_LINES = 8
MAX_FORM_DX = 12

PLAIN_WORDS = {
    "DX_HEADER_CODE": "A documented diagnosis is a category heading, not a billable code: pick the specific code under it.",
    "DX_UNMAPPED_SNOMED": "A documented clinical concept has no safe ICD-10-CM translation: choose the diagnosis code.",
    "DX_LOW_CONFIDENCE": "The coder is not confident enough in a diagnosis it chose: confirm or replace it.",
    "DX_UNKNOWN_CODE": "A documented diagnosis code does not exist in ICD-10-CM.",
    "DX_INVALID_FOR_DOS_YEAR": "A diagnosis code is not valid in the code-set year of the date of service.",
    "DX_FREE_TEXT": "A diagnosis was documented only as text: choose the code that matches it.",
    "DX_CODE_SET_UNAVAILABLE": "The ICD-10-CM code set for the date of service is not loaded, so nothing could be checked.",
    "DX_PREVENTIVE_FINDINGS": "A preventive visit lists a problem: choose Z00 with or without abnormal findings (was it found at this exam?).",
    "DX_SEQUENCING": "The only diagnosis is an additional-only code (an infectious agent): document and list the condition it causes first.",
    "DOS_BEFORE_ICD10": "The visit is dated before 1 October 2015, when ICD-9-CM was in use: it cannot be coded in ICD-10-CM.",
    "EM_UNSUPPORTED": "The documented time or decision making does not support the office-visit level: choose the level.",
    "EM_LOW_CONFIDENCE": "The office-visit level is uncertain: confirm or change it.",
    "PROC_UNKNOWN_CODE": "A documented procedure code is not in the coder's procedure list: confirm or replace it.",
    "PROC_LOW_CONFIDENCE": "A procedure the coder chose is uncertain: confirm or replace it.",
    "PROC_UNMAPPED_SNOMED": "A documented procedure concept has no safe CPT/HCPCS translation: choose the code.",
    "MISSING_DOCUMENTATION": "Something a claim needs was not documented: code it, or send it back to the provider.",
    "CHARGE_MISSING": "A line has no documented charge and no fee-schedule price.",
    "INSTITUTIONAL_CLAIM": "A facility (hospital, nursing facility, home health or hospice) bills this stay on an institutional claim (837I), which is not supported yet.",
    "IMM_ADMIN_AMBIGUOUS": "The vaccine's administration code depends on the dose number, which is not documented: state the dose.",
    "HUMAN_CODES_INVALID": "The codes submitted for this encounter failed the coder's checks: see the findings and fix them.",
}


def plain_words(code: str, message: str) -> str:
    """The reason as a person reads it; unknown codes fall back to the coder's message."""
    return PLAIN_WORDS.get(code, message)


def resolution_id(encounter_id: str, encounter_version: int, routed_at_ms: int) -> str:
    """One id per review routing: a double submit or a redelivery is the same resolution."""
    return "RS" + hashlib.sha256(f"resolution\x1f{encounter_id}\x1f{encounter_version}\x1f{routed_at_ms}".encode()).hexdigest()[:24].upper()


@dataclass
class EditForm:
    diagnoses: list[str]
    lines: list[DraftLine]
    reason: str
    errors: list[str] = field(default_factory=list)


def _split(text: str) -> list[str]:
    return [p for p in text.replace(",", " ").split() if p]


def read_form(data: Mapping[str, str]) -> EditForm:
    """dx_1..dx_12; line_N_code / _modifiers / _units / _pointers; reason."""
    dx = [data.get(f"dx_{i}", "").strip() for i in range(1, MAX_FORM_DX + 1)]
    lines: list[DraftLine] = []
    errors: list[str] = []
    for n in range(1, MAX_FORM_LINES + 1):
        code = data.get(f"line_{n}_code", "").strip().upper()
        if not code:
            continue
        try:
            units = int(data.get(f"line_{n}_units", "1") or "1")
        except ValueError:
            errors.append(f"line {n}: units must be a whole number")
            units = 1
        try:
            pointers = tuple(int(p) for p in _split(data.get(f"line_{n}_pointers", "1") or "1"))
        except ValueError:
            errors.append(f"line {n}: diagnosis pointers must be numbers like 1,2")
            pointers = (1,)
        mods = tuple(m.upper() for m in _split(data.get(f"line_{n}_modifiers", "")))
        lines.append(DraftLine(code, mods, units, pointers))
    return EditForm([d for d in dx if d], lines, data.get("reason", "").strip()[:2000], errors)


def proposal_as_form(diagnoses: list[dict], lines: list[dict]) -> tuple[list[str], list[DraftLine]]:
    dx = [d["code"] for d in sorted(diagnoses, key=lambda d: d["sequence"])]
    ln = [DraftLine(x["code"], tuple(x.get("modifiers", [])), int(x["units"]), tuple(x.get("diagnosis_pointers", [])))
          for x in sorted(lines, key=lambda x: x["line_number"])]
    return dx, ln


def changed(form: EditForm, proposal_dx: list[str], proposal_lines: list[DraftLine]) -> bool:
    from services.coder.resolution import normalize_dx

    return ([normalize_dx(d) for d in form.diagnoses] != [normalize_dx(d) for d in proposal_dx]
            or [(ln.code, ln.modifiers, ln.units, ln.pointers) for ln in form.lines]
            != [(ln.code, ln.modifiers, ln.units, ln.pointers) for ln in proposal_lines])


def price(ref: CodingReference, lines: list[DraftLine], proposal: list[dict]) -> tuple[list[Decimal], list[str]]:
    """Charge per line: the proposal's unit charge when the code is unchanged, else the fee schedule."""
    unit = {}
    for p in proposal:
        if int(p["units"]) > 0:
            unit.setdefault(p["code"], Decimal(str(p["charge"])) / int(p["units"]))
    out, errors = [], []
    for n, ln in enumerate(lines, start=1):
        per_unit = unit.get(ln.code)
        if per_unit is None:
            per_unit = ref.fee(ln.code, list(ln.modifiers))
        if per_unit is None:
            errors.append(f"line {n}: {ln.code} has no documented charge and no fee-schedule price")
            per_unit = Decimal("0")
        out.append((per_unit * ln.units).quantize(Decimal("0.01")))
    return out, errors


@dataclass
class Decision:
    resolution: CodingResolution | None
    errors: list[str]
    coding: HumanCoding | None = None


def decide(ref: CodingReference, *, encounter_id: str, encounter_version: int, routed_at: datetime, dos: date,
           proposal_diagnoses: list[dict], proposal_lines: list[dict], form: EditForm, send_back: bool,
           user: str, role: str, now: datetime) -> Decision:
    """Turn a submitted review form into a CodingResolution, or into form errors (nothing published)."""
    before_dx = [CodedDiagnosis.model_validate(d) for d in proposal_diagnoses]
    before_lines = [CodedServiceLine.model_validate(x) for x in proposal_lines]
    rid = resolution_id(encounter_id, encounter_version, int(routed_at.timestamp() * 1000))
    common = dict(resolution_id=rid, encounter_id=encounter_id, encounter_version=encounter_version, review_routed_at=routed_at,
                  resolved_by=user, resolved_role=role, resolved_at=now, before_diagnoses=before_dx,
                  before_service_lines=before_lines)
    if send_back:
        if not form.reason:
            return Decision(None, ["Say what documentation is missing (the question for the provider)."])
        return Decision(CodingResolution(action=ResolutionAction.QUERY_PROVIDER, reason=form.reason, **common), [])
    errors = list(form.errors)
    pdx, plines = proposal_as_form(proposal_diagnoses, proposal_lines)
    is_edit = changed(form, pdx, plines)
    if is_edit and not form.reason:
        errors.append("You changed the proposed codes: an override reason is required.")
    coding = check_human_codes(ref, dos, form.diagnoses, form.lines)
    errors += [f"{f.subject + ': ' if f.subject else ''}{f.message}" for f in coding.findings]
    charges, price_errors = price(ref, form.lines, proposal_lines)
    errors += price_errors
    if errors:
        return Decision(None, errors, coding)
    dx, lines = to_coded(ref, dos, coding, charges)
    action = ResolutionAction.EDIT if is_edit else ResolutionAction.ACCEPT
    return Decision(CodingResolution(action=action, reason=form.reason, diagnoses=dx, service_lines=lines, **common), [], coding)
