"""The held-claim correction loop, as pure functions (no Faust, no Kafka).

A person fixes a claim the scrubber held (CLI ``claimflow claims correct`` or
``POST /claims/{claim_id}/corrections`` on the scrubber) and a ``ClaimCorrection`` goes to
``claims.corrected.v1``. The scrubber re-runs every edit on it with the encounter facts and
the cross-claim history it kept for the claim, then releases it to ``claims.v1`` (same
claim id) or holds it again with fresh findings.

Invariants kept here and by the shell (services/scrubber/app.py):
* a claim id reaches ``claims.v1`` at most once per claim version: a correction of a
  claim already released is refused (dead-lettered with ``AlreadyReleased``);
* a correction is applied once: its id is derived from the claim id and the corrected
  content, and the ids applied are remembered in the claim's ``emitted-claims`` entry;
* a correction cannot move a claim to another encounter or encounter version.

The ``emitted-claims`` entry for a claim id is a small dict (no PHI)::

    {"version": <encounter_version>, "state": "held" | "released",
     "corrections": [<correction ids applied>], "facts": {<E/M facts of the encounter>}}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from claimflow.ids import claim_id as make_claim_id
from claimflow.models import Claim, ClaimCorrection, MdmLevel, PatientStatus, ServiceLine, VisitType

from services.scrubber.logic import EncounterFacts

HELD = "held"
RELEASED = "released"


class CorrectionRefused(ValueError):
    """A correction that can never be applied; ``code`` becomes the DLQ error class."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --- ids and content ------------------------------------------------------------------------


def _content(claim: Claim) -> str:
    """Canonical JSON of what a person can change (findings and timestamps excluded)."""
    data = claim.model_dump(mode="json", exclude={"findings", "created_at"})
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def correction_id(claim: Claim) -> str:
    """Same claim id + same corrected content -> same id, so a resend is applied once."""
    digest = hashlib.sha256(f"{claim.claim_id}\x1f{_content(claim)}".encode()).hexdigest()[:24].upper()
    return f"CC{digest}"


def make_correction(corrected: Claim, corrected_by: str, reason: str, now: datetime) -> ClaimCorrection:
    corrected = corrected.model_copy(update={"findings": [], "total_charge": sum((l.charge for l in corrected.lines), Decimal("0.00"))})
    return ClaimCorrection(correction_id=correction_id(corrected), claim_id=corrected.claim_id, claim=corrected,
                           corrected_by=corrected_by, reason=reason, submitted_at=now)


# --- edits a person asks for (CLI flags) ------------------------------------------------------


@dataclass
class LineEdit:
    line_number: int
    code: str | None = None
    modifiers: list[str] | None = None
    units: int | None = None
    charge: str | None = None
    diagnosis_pointers: list[int] | None = None


@dataclass
class ClaimEdits:
    """A person's changes to a held claim, applied by ``apply_edits``."""

    lines: list[LineEdit] = field(default_factory=list)
    diagnosis_replacements: dict[str, str] = field(default_factory=dict)  # old code -> new code
    remove_lines: list[int] = field(default_factory=list)
    place_of_service: str | None = None
    rendering_npi: str | None = None
    billing_npi: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.lines or self.diagnosis_replacements or self.remove_lines or self.place_of_service
                    or self.rendering_npi or self.billing_npi)


def apply_edits(claim: Claim, edits: ClaimEdits) -> Claim:
    """The claim with ``edits`` applied and the total charge recomputed. Raises
    ``CorrectionRefused`` for edits that name a line or diagnosis the claim does not have."""
    numbers = {l.line_number for l in claim.lines}
    for n in [e.line_number for e in edits.lines] + list(edits.remove_lines):
        if n not in numbers:
            raise CorrectionRefused("UnknownLine", f"claim {claim.claim_id} has no line {n}")
    for old in edits.diagnosis_replacements:
        if old.replace(".", "").upper() not in {d.replace(".", "").upper() for d in claim.diagnoses}:
            raise CorrectionRefused("UnknownDiagnosis", f"claim {claim.claim_id} has no diagnosis {old}")
    by_line = {e.line_number: e for e in edits.lines}
    lines = []
    for line in claim.lines:
        if line.line_number in edits.remove_lines:
            continue
        e = by_line.get(line.line_number)
        if e is not None:
            update: dict = {}
            if e.code is not None:
                update["procedure_code"] = e.code.strip().upper()
            if e.modifiers is not None:
                update["modifiers"] = [m.strip().upper() for m in e.modifiers if m.strip()]
            if e.units is not None:
                update["units"] = e.units
            if e.charge is not None:
                try:
                    update["charge"] = Decimal(e.charge).quantize(Decimal("0.01"))
                except InvalidOperation:
                    raise CorrectionRefused("BadCharge", f"line {e.line_number}: charge {e.charge!r} is not an amount") from None
            if e.diagnosis_pointers is not None:
                update["diagnosis_pointers"] = list(e.diagnosis_pointers)
            line = ServiceLine.model_validate({**line.model_dump(), **update})
        lines.append(line)
    if not lines:
        raise CorrectionRefused("NoLines", f"claim {claim.claim_id} would have no service lines")
    norm = {k.replace(".", "").upper(): v.replace(".", "").upper() for k, v in edits.diagnosis_replacements.items()}
    diagnoses = [norm.get(d.replace(".", "").upper(), d) for d in claim.diagnoses]
    update = {"lines": lines, "diagnoses": diagnoses, "findings": [],
              "total_charge": sum((l.charge for l in lines), Decimal("0.00"))}
    if edits.place_of_service:
        update["place_of_service"] = edits.place_of_service
    data = claim.model_dump()
    if edits.rendering_npi:
        data["rendering_provider"]["npi"] = edits.rendering_npi
    if edits.billing_npi:
        data["billing_provider"]["npi"] = edits.billing_npi
    update["lines"] = [l.model_dump() for l in lines]
    # re-validate: a person's edit must still make a well-formed claim
    return Claim.model_validate({**data, **update})


# --- the scrubber's decision ------------------------------------------------------------------


def entry_for(version: int, state: str, facts: EncounterFacts, corrections: list[str] | None = None) -> dict:
    return {"version": version, "state": state, "corrections": list(corrections or []), "facts": facts_to_dict(facts)}


def normalise_entry(entry) -> dict | None:
    """Entries written before the correction loop held just the encounter version."""
    if entry is None:
        return None
    if isinstance(entry, int):
        return {"version": entry, "state": None, "corrections": [], "facts": {}}
    return entry


def facts_to_dict(facts: EncounterFacts) -> dict:
    return {
        "visit_type": facts.visit_type.value if facts.visit_type else None,
        "patient_status": facts.patient_status.value if facts.patient_status else None,
        "total_time_minutes": facts.total_time_minutes,
        "mdm_level": facts.mdm_level.value if facts.mdm_level else None,
    }


def facts_from_dict(data: dict | None) -> EncounterFacts:
    data = data or {}
    return EncounterFacts(
        visit_type=VisitType(data["visit_type"]) if data.get("visit_type") else None,
        patient_status=PatientStatus(data["patient_status"]) if data.get("patient_status") else None,
        total_time_minutes=data.get("total_time_minutes"),
        mdm_level=MdmLevel(data["mdm_level"]) if data.get("mdm_level") else None,
    )


def check_correction(entry: dict | None, correction: ClaimCorrection) -> bool:
    """True to re-scrub, False for a correction already applied (a redelivery: drop it
    silently). Raises ``CorrectionRefused`` for one that must never be applied."""
    if make_claim_id(correction.claim.encounter_id, correction.claim.encounter_version) != correction.claim_id:
        raise CorrectionRefused("ClaimMismatch", "a correction cannot move a claim to another encounter or version")
    if correction.correction_id != correction_id(correction.claim):
        raise CorrectionRefused("CorrectionIdMismatch", "correction_id does not match the corrected content")
    entry = normalise_entry(entry)
    if entry is None:
        raise CorrectionRefused("UnknownHeldClaim", f"no held claim {correction.claim_id} is known to this scrubber")
    if correction.correction_id in entry.get("corrections", ()):
        return False
    if entry.get("state") == RELEASED:
        raise CorrectionRefused("AlreadyReleased", f"claim {correction.claim_id} was already released; "
                                "correct it after adjudication with a replacement claim (frequency 7)")
    if entry.get("state") != HELD:
        raise CorrectionRefused("NotHeld", f"claim {correction.claim_id} is not held")
    if correction.claim.encounter_version != entry.get("version"):
        raise CorrectionRefused("VersionMismatch", f"claim {correction.claim_id} is version {entry.get('version')}, "
                                f"the correction is for version {correction.claim.encounter_version}")
    return True


def after_correction(entry: dict, correction: ClaimCorrection, released: bool) -> dict:
    entry = normalise_entry(entry) or {}
    return {**entry, "state": RELEASED if released else HELD,
            "corrections": list(entry.get("corrections", [])) + [correction.correction_id]}
