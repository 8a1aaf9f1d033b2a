"""Posting compares (pure): each paid 835 line's allowed amount against the expected allowed
amount the claim carried (Claim v2 ``expected_allowed``), within the payer's tolerance.

* Allowed is AMT*B6 when the payer sent it; otherwise paid (SVC03) + patient responsibility
  (PR adjustments), i.e. the charge less the contractual (CO-45) reduction.
* Lines with a denial or bundling adjustment (any CO/OA/PI other than the contractual
  reduction CO-45 and sequestration CO-253) are the denial worklist's business, not compared.
* A shortfall beyond tolerance is an underpayment work item (``downcoded`` when SVC06, the
  billed code, differs from SVC01, the paid code); an excess beyond tolerance is an
  overpayment with the refund-liability flag set.

Only remittances of the claim's own payer with CLP02 1/2/3/19/20/21 are compared; a line
without an expectation (unknown payer, unpriced status) is never compared with "$0"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from claimflow.ids import _digest
from claimflow.models import (
    Adjudication, AdjustmentGroup, ExpectedAllowed, ServicePayment, UnderpaymentKind, UnderpaymentWorkItem,
)

ZERO = Decimal("0.00")
COMPARED_STATUSES = {"1", "2", "3", "19", "20", "21"}
CONTRACTUAL_REDUCTION = {"45"}  # CARC 45: charge exceeds fee schedule / maximum allowable
NOT_A_DENIAL = {"45", "253"}  # 253: sequestration (reduces payment, not the allowed amount)


def expected_summary(e: ExpectedAllowed | None) -> dict[str, Any] | None:
    """What the adjudicator's ledger keeps of a line's expectation (no PHI)."""
    if e is None:
        return None
    return {"amount": str(e.amount) if e.amount is not None else None, "tolerance": str(e.tolerance_amount),
            "basis": e.basis, "payer_id": e.payer_id, "term": e.contract_term, "dataset": e.dataset,
            "version": e.dataset_version, "inputs": dict(e.inputs), "reason": e.not_computed_reason}


@dataclass
class Comparison:
    """One compared line: what was expected, what was allowed, and what it means."""

    line_number: int
    expected: Decimal
    allowed: Decimal
    paid: Decimal
    allowed_source: str
    item: UnderpaymentWorkItem | None = None


@dataclass
class CompareResult:
    payer_id: str = ""
    compared: list[Comparison] = field(default_factory=list)
    items: list[UnderpaymentWorkItem] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> lines

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def allowed_of(line: ServicePayment) -> tuple[Decimal, str]:
    """The payer's allowed amount for a line: AMT*B6, else paid + patient responsibility."""
    if line.allowed_amount is not None:
        return line.allowed_amount, "AMT*B6"
    pr = sum((a.amount for a in line.adjustments if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY), ZERO)
    seq = sum((a.amount for a in line.adjustments if a.group_code != AdjustmentGroup.PATIENT_RESPONSIBILITY and a.reason_code == "253"), ZERO)
    return line.paid_amount + pr + seq, "paid+patient-responsibility"


def _denied(line: ServicePayment) -> bool:
    return any(a.group_code != AdjustmentGroup.PATIENT_RESPONSIBILITY and a.reason_code.strip() not in NOT_A_DENIAL and a.amount > 0
               for a in line.adjustments)


def _match(claim_lines: list[dict], line: ServicePayment, used: set[int], index: int) -> dict | None:
    if line.line_number is not None:
        return next((c for c in claim_lines if c["line_number"] == line.line_number), None)
    code = line.billed_procedure_code
    for c in claim_lines:
        if c["line_number"] not in used and c["procedure_code"] == code and list(c.get("modifiers", [])) == list(line.original_modifiers or line.modifiers):
            return c
    for c in claim_lines:
        if c["line_number"] not in used and c["procedure_code"] == code:
            return c
    return None


def underpayment_id(adjudication_id: str, line_number: int) -> str:
    return "UP" + _digest("underpayment", adjudication_id, line_number)


def compare(adj: Adjudication, claim: dict | None, now: datetime) -> CompareResult:
    """Compare ``adj``'s lines with the ledger's claim summary (``lines[].expected``)."""
    res = CompareResult(payer_id=adj.payer_id)
    if not claim or adj.claim_status_code not in COMPARED_STATUSES:
        return res
    if claim.get("payer_id") and claim["payer_id"] != adj.payer_id:
        res.skip("remittance from another payer than the claim's")
        return res
    lines = claim.get("lines") or []
    used: set[int] = set()
    for i, line in enumerate(adj.service_lines):
        target = _match(lines, line, used, i)
        if target is None:
            res.skip("no matching claim line")
            continue
        used.add(target["line_number"])
        exp = target.get("expected")
        if not exp or exp.get("amount") is None:
            res.skip("no expectation")
            continue
        if _denied(line):
            res.skip("denied or bundled line (denial worklist)")
            continue
        expected, tolerance = Decimal(exp["amount"]), Decimal(exp["tolerance"])
        allowed, source = allowed_of(line)
        c = Comparison(target["line_number"], expected, allowed, line.paid_amount, source)
        res.compared.append(c)
        shortfall = expected - allowed
        kind = None
        if shortfall > tolerance:
            kind = UnderpaymentKind.DOWNCODED if line.downcoded else UnderpaymentKind.UNDERPAID
        elif -shortfall > tolerance:
            kind = UnderpaymentKind.OVERPAID
        if kind is None:
            continue
        billed = line.billed_procedure_code
        over = kind is UnderpaymentKind.OVERPAID
        what = {UnderpaymentKind.UNDERPAID: f"allowed {allowed} is {shortfall} below the expected {expected}",
                UnderpaymentKind.DOWNCODED: f"billed {billed}, paid as {line.procedure_code}: allowed {allowed} is {shortfall} below the expected {expected}",
                UnderpaymentKind.OVERPAID: f"allowed {allowed} is {-shortfall} above the expected {expected}: possible refund liability"}[kind]
        evidence = {k: str(v) for k, v in (exp.get("inputs") or {}).items()}
        evidence.update({"allowed_source": source, "tolerance": str(tolerance), "basis": str(exp.get("basis"))})
        c.item = UnderpaymentWorkItem(
            work_item_id=underpayment_id(adj.adjudication_id, target["line_number"]), claim_id=adj.claim_id,
            adjudication_id=adj.adjudication_id, payer_id=adj.payer_id, line_number=target["line_number"], kind=kind,
            procedure_code=billed, adjudicated_procedure_code=line.procedure_code, downcoded=line.downcoded,
            refund_liability=over, expected_amount=expected, allowed_amount=allowed, allowed_source=source,
            paid_amount=line.paid_amount, recoverable_amount=abs(shortfall), tolerance_amount=tolerance,
            contract_term=str(exp.get("term") or ""), dataset=exp.get("dataset"), dataset_version=exp.get("version"),
            evidence=evidence, explanation=f"line {target['line_number']}: {what} ({exp.get('term')}, tolerance {tolerance})",
            remittance_date=adj.remittance_date, created_at=now)
        res.items.append(c.item)
    return res
