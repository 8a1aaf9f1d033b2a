"""Plain result records shared by the X12 readers and writer.

Messages never carry PHI: they name segment ids, positions, element numbers, codes and
amounts, claim ids (opaque hashes) and control numbers, never names, DOBs or member ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from claimflow.models import Adjudication, ClaimStatusChanged

ErrorLevel = Literal["file", "interchange", "group", "transaction", "claim"]


@dataclass(frozen=True)
class Finding:
    """A data-quality observation that does not stop the record from flowing."""

    code: str                       # e.g. BAL-CLAIM, BAL-LINE, BAL-TXN, ENV-GE01, DATE-BPR16
    severity: Literal["error", "warning", "info"]
    message: str
    position: int | None = None     # 1-based segment position inside the interchange
    claim_id: str | None = None
    control_number: str | None = None  # ST02 of the transaction set concerned


@dataclass(frozen=True)
class X12Error:
    """Something that could not be turned into records. ``raw`` holds the original bytes of
    the smallest unit that failed (claim, transaction set, or whole file) for a DLQ."""

    level: ErrorLevel
    reason: str
    position: int | None            # 1-based segment position inside the interchange (None: file level)
    raw: bytes
    source: str = ""
    control_number: str | None = None  # ST02 when known
    transaction_set: str | None = None  # ST01 when known


@dataclass(frozen=True)
class ProviderAdjustment:
    """One PLB adjustment (PLB03/04, 05/06, ...). Positive amounts reduce the payment."""

    provider_id: str
    fiscal_period_date: date | None
    reason_code: str
    reference_id: str | None
    amount: Decimal
    position: int


@dataclass
class Remittance:
    """One 835 transaction set (one check / EFT)."""

    control_number: str
    source: str
    payer_id: str
    payer_name: str
    payee_id: str | None
    payment_amount: Decimal
    credit_debit: str
    payment_method: str
    trace_number: str | None
    remittance_date: date | None
    adjudications: list[Adjudication] = field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not any(f.code.startswith("BAL-") for f in self.findings)


@dataclass(frozen=True)
class ClaimStatusResult:
    """One claim-level STC from a 277CA / 277 (or an IK5 of a 999 mapped onto a claim)."""

    claim_id: str                   # TRN02 = CLM01 patient control number
    category_code: str              # STC01-1 (A1, A2, A3, ...)
    status_code: str                # STC01-2
    entity_code: str | None
    accepted: bool | None           # None: informational, no state change
    reason: str                     # e.g. "STC A3:21; A3:187"
    payer_claim_control_number: str | None
    charge: Decimal | None
    effective_date: date | None
    control_number: str
    position: int
    event: ClaimStatusChanged | None = None


@dataclass(frozen=True)
class NonClaimStatus:
    """An STC at information-source / receiver / provider level (batch acceptance etc.)."""

    level: str                      # HL03: 20, 21, 19, ...
    category_code: str
    status_code: str
    trace: str | None
    control_number: str
    position: int


@dataclass(frozen=True)
class SegmentErrorNote:
    """IK3/IK4 of a 999: where the receiver found a syntax error."""

    segment_id: str
    position: str
    loop: str | None
    syntax_error_code: str | None
    element_position: str | None = None
    element_error_code: str | None = None


@dataclass(frozen=True)
class TransactionSetAck:
    """One AK2 ... IK5 group of a 999."""

    functional_id: str              # AK101
    group_control_number: str       # AK102 (our GS06)
    transaction_set: str            # AK201 (e.g. 837)
    control_number: str             # AK202 (our ST02)
    code: str                       # IK501: A, E, M, R, W, X
    accepted: bool                  # A or E
    error_codes: tuple[str, ...]    # IK502..IK506
    segment_errors: tuple[SegmentErrorNote, ...]
    position: int


@dataclass(frozen=True)
class GroupAck:
    """AK9 of a 999."""

    functional_id: str
    group_control_number: str
    code: str                       # A, E, M, P, R, W, X
    included: int
    received: int
    accepted_count: int
    accepted: bool                  # A, E or P (partially accepted counts as accepted for the accepted sets)
    control_number: str             # ST02 of the 999
    transaction_sets: list[TransactionSetAck] = field(default_factory=list)
