"""The demo's closing summary, for a billing manager (pure: no Kafka, no Faust).

Denials and patient responsibility are different things and are kept apart:
- a **denial** is a claim the payer refused (CLP02 = 4) or a service line it paid nothing
  on with a CO, PI or OA adjustment; its reasons are the CARCs of those adjustments;
- **patient responsibility** (group PR: 1 deductible, 2 coinsurance, 3 copay) is money the
  payer says the patient owes; it is billed to the patient, never appealed.
Work routed to people is split by what they do: appeals (file with the payer), manual
reviews (a person decides first) and corrections (fix and resubmit the claim).

Money: ``charged`` is the sum of billed charges (CLP03) of the adjudicated claims; ``allowed``
= paid + patient responsibility (what the contract allows in total); ``paid`` is what payers
paid (CLP04); ``patient_responsibility`` is CLP05. All Decimal, printed as strings."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Iterable

from claimflow.models import Adjudication, AdjustmentGroup, ClaimStatusChanged, DenialWorkItem, Disposition

DENIED_STATUS = "4"
DENIAL_GROUPS = frozenset({AdjustmentGroup.CONTRACTUAL_OBLIGATION, AdjustmentGroup.PAYER_INITIATED, AdjustmentGroup.OTHER_ADJUSTMENT})
# contractual reductions that are paid correctly, never a denial reason: CO-45 charge above
# the fee schedule, CO-253 sequestration
NOT_DENIAL_REASONS = frozenset({("CO", "45"), ("CO", "253")})
CORRECTIONS = frozenset({Disposition.CORRECT_AND_RESUBMIT, Disposition.CORRECTED_CLAIM_WITH_MODIFIER})
ZERO = Decimal("0.00")

# one line per key, printed by `claimflow demo --explain` and kept in the README
EXPLAIN: dict[str, str] = {
    "completed": "every published encounter reached an outcome and every clean claim was adjudicated before the deadline",
    "encounters_in": "synthetic encounters this run published",
    "coded": "encounters the coder coded automatically",
    "sent_to_coding_review": "encounters the coder sent to a human coder",
    "claims_emitted": "clean (or warning-only) claims the scrubber released",
    "claims_held": "claims the scrubber held for correction before submission",
    "adjudications_ingested": "remittances (835 semantics) posted for this run's claims",
    "money.charged": "billed charges (CLP03) of the adjudicated claims",
    "money.allowed": "paid + patient responsibility: what the payers' contracts allow in total",
    "money.paid": "what the payers paid (CLP04)",
    "money.patient_responsibility": "what the payers say the patients owe (CLP05: deductible, coinsurance, copay)",
    "denials.claims_denied": "claims the payer denied outright (CLP02 = 4)",
    "denials.lines_denied": "service lines paid zero with a CO, PI or OA adjustment (other than the CO-45 / CO-253 contractual reductions), on claims not denied outright",
    "denials.by_reason": "group-CARC of the CO, PI and OA adjustments on those denials, with counts (PR, CO-45 and CO-253 are never denial reasons)",
    "denials.denied_dollars": "charges of the denied claims and lines",
    "patient_responsibility.claims": "claims with a patient share (PR adjustments)",
    "patient_responsibility.by_reason": "PR-1 deductible, PR-2 coinsurance, PR-3 copay (and other PR reasons): dollars",
    "work.appeals": "denials routed to the appeals queue to be filed with the payer",
    "work.appeal_dollars_at_risk": "denied dollars on those appeal items",
    "work.manual_reviews": "denials routed to a person to decide first (not yet an appeal)",
    "work.corrections": "denials to correct and resubmit as a new or corrected claim",
    "work.patient_bills": "statements for patient responsibility",
    "work.other_dispositions": "remaining dispositions: write-offs, no action, informational, duplicates, rebill other payer",
    "underpayment_work_items": "paid lines whose allowed amount missed the contract's expectation beyond tolerance, by kind (underpaid, downcoded, overpaid)",
    "underpayment_dollars_recoverable": "dollars the payers still owe on underpaid and downcoded lines (overpayments are refund liabilities, not counted)",
    "dead_letters": "records of this run that went to a dead-letter topic (see `claimflow dlq list`)",
    "broker_start_seconds": "time to start the demo's own broker",
    "pipeline_seconds": "publish to last outcome",
    "appeals_filed_by_demo": "highest-priority appeals the demo's biller filed (the payer simulator answers them; see the workbench dashboard)",
}


def _denial_adjustments(adjustments):
    return [a for a in adjustments if a.group_code in DENIAL_GROUPS and (a.group_code.value, a.reason_code) not in NOT_DENIAL_REASONS]


def _adjustments(adj: Adjudication):
    yield from ((None, a) for a in adj.claim_adjustments)
    for line in adj.service_lines:
        yield from ((line, a) for a in line.adjustments)


def money_and_denials(adjudications: Iterable[Adjudication]) -> dict:
    charged = paid = patient = denied_dollars = ZERO
    claims_denied = lines_denied = pr_claims = 0
    reasons: Counter[str] = Counter()
    pr_dollars: dict[str, Decimal] = {}
    for adj in adjudications:
        charged += adj.total_charge
        paid += adj.paid_amount
        patient += adj.patient_responsibility
        if adj.claim_status_code == DENIED_STATUS:
            claims_denied += 1
            denied_dollars += adj.total_charge
            for a in _denial_adjustments(a for _, a in _adjustments(adj)):
                reasons[f"{a.group_code.value}-{a.reason_code}"] += 1
        else:
            for line in adj.service_lines:
                denial = _denial_adjustments(line.adjustments)  # paid zero by the deductible alone is no denial
                if line.paid_amount == 0 and line.charge > 0 and denial:
                    lines_denied += 1
                    denied_dollars += line.charge
                    for a in denial:
                        reasons[f"{a.group_code.value}-{a.reason_code}"] += 1
        shares = [a for _, a in _adjustments(adj) if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY]
        pr_claims += bool(shares) or adj.patient_responsibility > 0
        for a in shares:
            key = f"PR-{a.reason_code}"
            pr_dollars[key] = pr_dollars.get(key, ZERO) + a.amount
    return {
        "money": {"charged": str(charged), "allowed": str(paid + patient), "paid": str(paid), "patient_responsibility": str(patient)},
        "denials": {"claims_denied": claims_denied, "lines_denied": lines_denied, "by_reason": dict(sorted(reasons.items())),
                    "denied_dollars": str(denied_dollars)},
        "patient_responsibility": {"claims": pr_claims, "by_reason": {k: str(v) for k, v in sorted(pr_dollars.items())}},
    }


def routed_work(items: Iterable[DenialWorkItem], statuses: Iterable[ClaimStatusChanged], patient_bills: int,
                corrections_requested: int) -> dict:
    appeals = manual = 0
    at_risk = ZERO
    for item in items:
        if item.disposition == Disposition.APPEAL:
            appeals += 1
            at_risk += item.denied_amount
        elif item.disposition == Disposition.MANUAL_REVIEW:
            manual += 1
    other: Counter[str] = Counter()
    routed = {Disposition.APPEAL, Disposition.MANUAL_REVIEW, Disposition.BILL_PATIENT, *CORRECTIONS}
    for ev in statuses:
        if ev.disposition is not None and ev.disposition not in routed:
            other[ev.disposition.value] += 1
    return {"appeals": appeals, "appeal_dollars_at_risk": str(at_risk), "manual_reviews": manual,
            "corrections": corrections_requested, "patient_bills": patient_bills,
            "other_dispositions": dict(sorted(other.items()))}


def explain_lines(summary: dict, prefix: str = "") -> list[str]:
    """``key: explanation`` for every key of a summary that has one."""
    out = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and f"{name}.{next(iter(value), '')}" in EXPLAIN:
            out += explain_lines(value, f"{name}.")
        elif name in EXPLAIN:
            out.append(f"{name}: {EXPLAIN[name]}")
    return out
