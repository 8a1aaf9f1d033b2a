"""Adjudicator domain logic (pure). Walking skeleton: posts adjudications onto a claim
ledger entry (idempotent by adjudication id) and turns every denial into a work item."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from claimflow.ids import status_event_id, work_item_id
from claimflow.models import (
    Adjudication,
    AppealLevel,
    ClaimState,
    ClaimStatusChanged,
    DenialWorkItem,
    Disposition,
)

SERVICE = "adjudicator"
ZERO = Decimal("0.00")
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"


@dataclass
class Posting:
    entry: dict
    status_events: list[ClaimStatusChanged] = field(default_factory=list)
    work_items: list[DenialWorkItem] = field(default_factory=list)
    duplicate: bool = False


def new_entry(claim_id: str) -> dict:
    return {"claim_id": claim_id, "state": None, "charged": "0.00", "paid": "0.00", "patient_responsibility": "0.00", "adjusted": "0.00", "posted": []}


def resulting_state(adj: Adjudication) -> ClaimState:
    if adj.claim_status_code == REVERSAL_STATUS:
        return ClaimState.REVERSED
    if adj.claim_status_code == DENIED_STATUS or (adj.paid_amount == ZERO and adj.patient_responsibility == ZERO):
        return ClaimState.DENIED
    return ClaimState.PAID


def post(entry: dict | None, adj: Adjudication, now: datetime) -> Posting:
    entry = dict(entry) if entry else new_entry(adj.claim_id)
    if adj.adjudication_id in entry["posted"]:
        return Posting(entry, duplicate=True)
    adjusted = sum((a.amount for a in adj.claim_adjustments), ZERO) + sum(
        (a.amount for line in adj.service_lines for a in line.adjustments), ZERO
    )
    entry["posted"] = entry["posted"] + [adj.adjudication_id]
    entry["charged"] = str(Decimal(entry["charged"]) + adj.total_charge)
    entry["paid"] = str(Decimal(entry["paid"]) + adj.paid_amount)
    entry["patient_responsibility"] = str(Decimal(entry["patient_responsibility"]) + adj.patient_responsibility)
    entry["adjusted"] = str(Decimal(entry["adjusted"]) + adjusted)
    previous = ClaimState(entry["state"]) if entry["state"] else None
    state = resulting_state(adj)
    entry["state"] = state.value
    posting = Posting(entry)
    posting.status_events.append(ClaimStatusChanged(
        event_id=status_event_id(adj.claim_id, adj.adjudication_id, state.value), claim_id=adj.claim_id, state=state,
        previous_state=previous, occurred_at=now, source_service=SERVICE, trigger_id=adj.adjudication_id,
        reason=f"CLP02={adj.claim_status_code}", charge=adj.total_charge, paid=Decimal(entry["paid"]),
    ))
    if state == ClaimState.DENIED:
        denied = adj.total_charge - adj.paid_amount - adj.patient_responsibility
        reasons = [f"{a.group_code.value}-{a.reason_code}" for a in adj.claim_adjustments] or ["CLP02-4"]
        posting.work_items.append(DenialWorkItem(
            work_item_id=work_item_id(adj.adjudication_id, "DEN-SKELETON"), claim_id=adj.claim_id,
            adjudication_id=adj.adjudication_id, payer_id=adj.payer_id, disposition=Disposition.APPEAL,
            rule_id="DEN-SKELETON", reason_codes=reasons, remark_codes=list(adj.remark_codes),
            appeal_level=AppealLevel.REDETERMINATION, deadline=adj.remittance_date + timedelta(days=120),
            remittance_date=adj.remittance_date, denied_amount=max(denied, ZERO), overturn_likelihood=0.5,
            priority_score=float(max(denied, ZERO)) * 0.5, explanation="denied claim routed for review", created_at=now,
        ))
    return posting
