"""Per-entry outcomes and FHIR OperationOutcome rendering (pure).

Every Bundle entry the gateway sees ends with exactly one outcome: ``used`` (it produced or
contributed to an EncounterEvent), ``ignored`` (with a reason, e.g. a resource type the
gateway does not bill from) or ``error`` (with a reason and a FHIR issue type code).

Diagnostics are written by the gateway itself and name elements (FHIRPath expressions),
never element values: a bad ``birthDate`` is reported as "Patient.birthDate is not a full
date", not with the date that was sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["used", "ignored", "error"]
Severity = Literal["fatal", "error", "warning", "information"]

USED: Status = "used"
IGNORED: Status = "ignored"
ERROR: Status = "error"


@dataclass(frozen=True)
class Issue:
    """One FHIR OperationOutcome.issue (severity, code from the IssueType value set,
    diagnostics without PHI, FHIRPath expressions)."""

    severity: Severity
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class EntryOutcome:
    """What happened to one Bundle entry.

    ``resource_id`` is the FHIR logical id (a server-assigned token, not PHI); ``index`` is
    the 0-based position in ``Bundle.entry`` (-1 for the Bundle itself)."""

    source: str
    index: int
    resource_type: str | None
    resource_id: str | None
    status: Status
    code: str
    reason: str
    encounter_id: str | None = None
    fingerprint: str | None = None
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)
    """Further issues (warnings, information) found while using the entry."""

    def head_issue(self) -> Issue:
        sev: Severity = "error" if self.status == ERROR else "information"
        return Issue(sev, self.code, self.reason, self.expression)

    def operation_outcome(self) -> dict[str, Any]:
        return operation_outcome([self.head_issue(), *self.issues])

    def http_status(self) -> str:
        if self.status == ERROR:
            return "422 Unprocessable Entity" if self.code not in ("not-supported",) else "400 Bad Request"
        if self.encounter_id:
            return "201 Created"
        return "200 OK"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "index": self.index, "resource_type": self.resource_type,
            "resource_id": self.resource_id, "status": self.status, "code": self.code, "reason": self.reason,
            "encounter_id": self.encounter_id, "fingerprint": self.fingerprint,
            "expression": list(self.expression), "issues": [i.to_fhir() for i in self.issues],
        }


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    if not issues:
        issues = [Issue("information", "informational", "ok")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def summarize(outcomes: list[EntryOutcome], events: int) -> dict[str, Any]:
    """Counts only (no ids, no PHI): safe to log."""
    by_status = Counter(o.status for o in outcomes if o.index >= 0)
    ignored_by_type = Counter(o.resource_type or "<none>" for o in outcomes if o.status == IGNORED)
    errors_by_code = Counter(o.code for o in outcomes if o.status == ERROR)
    return {
        "entries": sum(1 for o in outcomes if o.index >= 0),
        "events": events,
        "used": by_status.get(USED, 0),
        "ignored": by_status.get(IGNORED, 0),
        "errors": sum(1 for o in outcomes if o.status == ERROR),
        "ignored_by_type": dict(sorted(ignored_by_type.items())),
        "errors_by_code": dict(sorted(errors_by_code.items())),
        "warnings": sum(1 for o in outcomes for i in o.issues if i.severity == "warning"),
    }
