"""Adjudicator-local event models, not yet Avro contracts (the lead turns them into
schemas): corrections to resubmit, patient statements, appeal outcomes fed back.
They follow the ``claimflow.models.Contract`` conventions (Decimal money, no floats)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import Enum
from typing import ClassVar

from pydantic import Field

from claimflow.models import AppealLevel, Contract, Disposition, Money


def local_id(prefix: str, *parts: object) -> str:
    """Deterministic opaque id (same scheme as ``claimflow.ids``; no PHI in the input)."""
    return prefix + hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:18].upper()


class CorrectionRequest(Contract):
    """A claim to fix and send again (new claim or frequency-7 replacement). Topic proposal:
    ``claims.corrections.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "CorrectionRequest"
    correction_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    disposition: Disposition
    rule_id: str
    line_numbers: list[int] = Field(default_factory=list)
    reason_codes: list[str]
    remark_codes: list[str] = Field(default_factory=list)
    frequency_code: str = Field(pattern=r"^[178]$", description="1 new claim (unprocessable), 7 replacement")
    suggested_modifiers: list[str] = Field(default_factory=list)
    amount: Money
    explanation: str
    created_at: datetime


class PatientBill(Contract):
    """Patient responsibility to put on a statement (negative amount = credit after a
    reversal). Topic proposal: ``billing.patient.v1`` keyed by claim id."""

    avro_name: ClassVar[str] = "PatientBill"
    bill_id: str
    claim_id: str
    adjudication_id: str
    payer_id: str
    rule_id: str
    amount: Money
    deductible: Money
    coinsurance: Money
    copay: Money
    other: Money
    remittance_date: date
    created_at: datetime


class AppealOutcomeKind(str, Enum):
    OVERTURNED = "overturned"
    PARTIALLY_OVERTURNED = "partially_overturned"
    UPHELD = "upheld"
    WITHDRAWN = "withdrawn"


class AppealOutcome(Contract):
    """A payer's decision on a filed appeal. Topic proposal: ``appeals.outcomes.v1`` keyed
    by claim id; written by the appeals desk / payer gateway."""

    avro_name: ClassVar[str] = "AppealOutcome"
    outcome_id: str
    work_item_id: str
    claim_id: str
    payer_id: str
    reason_code: str = Field(description="primary CARC of the appealed denial, e.g. 50")
    appeal_level: AppealLevel
    outcome: AppealOutcomeKind
    recovered_amount: Money = Field(default=0, ge=0)
    decided_on: date
    received_at: datetime
