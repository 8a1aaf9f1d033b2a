"""Payer simulator (pure): adjudicates a Claim the way a payer's 835 would, deterministic per
(seed, claim id). Fee-schedule contractual adjustments (CO-45), deductibles, coinsurance
and copays (PR-1/2/3), and configurable denial rates (CO-16 + MA130, CO-97, CO-197, CO-50,
CO-29, CO-18). Every remit balances at claim and line level; money is Decimal, 2 places."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from claimflow.ids import adjudication_id
from claimflow.models import Adjudication, Adjustment, AdjustmentGroup, Claim, ServiceLine, ServicePayment

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
CO, PR = AdjustmentGroup.CONTRACTUAL_OBLIGATION, AdjustmentGroup.PATIENT_RESPONSIBILITY
SOURCE = "payer-sim"

# Denial kinds the simulator can produce, in draw order. Whole-claim kinds deny every line.
DENIAL_KINDS = ("CO-16", "CO-29", "CO-18", "CO-197", "CO-50", "CO-97")
WHOLE_CLAIM = {"CO-16", "CO-29", "CO-18"}
DENIAL_REMARKS = {"CO-16": ["MA130"], "CO-97": ["M15"], "CO-197": ["M62"], "CO-50": ["N115"], "CO-29": [], "CO-18": []}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PayerProfile:
    allowed_ratio: Decimal  # allowed amount = charge x ratio (the fee schedule)
    deductible_rate: float  # share of claims that meet unmet deductible
    deductible_max: Decimal
    coinsurance: Decimal  # patient's share of the allowed amount after deductible
    copay: Decimal  # per E/M visit line
    forwarded_rate: float = 0.0  # CLP02 19 + MA18 (crossover to a supplemental payer)


DEFAULT_PROFILES: dict[str, PayerProfile] = {
    "MCR01": PayerProfile(Decimal("0.62"), 0.12, Decimal("240.00"), Decimal("0.20"), ZERO, forwarded_rate=0.10),
    "MCD17": PayerProfile(Decimal("0.48"), 0.00, ZERO, ZERO, Decimal("3.00")),
    "BCX22": PayerProfile(Decimal("0.78"), 0.18, Decimal("500.00"), Decimal("0.10"), Decimal("25.00")),
    "AET45": PayerProfile(Decimal("0.74"), 0.15, Decimal("400.00"), ZERO, Decimal("30.00")),
}
FALLBACK_PROFILE = PayerProfile(Decimal("0.70"), 0.10, Decimal("300.00"), Decimal("0.20"), Decimal("20.00"))


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    denial_rates: dict[str, float] = field(default_factory=lambda: {
        "CO-16": 0.02, "CO-29": 0.01, "CO-18": 0.01, "CO-197": 0.02, "CO-50": 0.03, "CO-97": 0.03,
    })
    profiles: dict[str, PayerProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    remit_lag_days: tuple[int, int] = (7, 30)
    # contract variance, on lines whose claim carries an expected allowed amount (Claim v2):
    # other lines are allowed exactly as expected, so a correct comparison flags only these
    underpay_rate: float = 0.08  # share of priced, paid lines allowed below expectation (beyond tolerance)
    downcode_rate: float = 0.04  # share of priced E/M visit lines paid as the next lower level (SVC06 = billed)
    overpay_rate: float = 0.01  # share of priced lines allowed above expectation (refund liability)
    allowed_amount_rate: float = 0.5  # share of lines that carry AMT*B6 (the others leave allowed to be derived)

    def __post_init__(self) -> None:
        unknown = set(self.denial_rates) - set(DENIAL_KINDS)
        if unknown:
            raise ValueError(f"unsupported denial kinds: {sorted(unknown)}")
        if any(r < 0 for r in self.denial_rates.values()) or sum(self.denial_rates.values()) > 1:
            raise ValueError("denial rates must be >= 0 and sum to at most 1")

    def profile(self, payer_id: str) -> PayerProfile:
        return self.profiles.get(payer_id, FALLBACK_PROFILE)


def rng_for(claim_id: str, seed: int) -> random.Random:
    """One independent, reproducible stream per (seed, claim id), whatever the claim order."""
    return random.Random(int.from_bytes(hashlib.sha256(f"payer-sim\x1f{seed}\x1f{claim_id}".encode()).digest()[:8], "big"))


DOWNCODE = {"99215": "99214", "99214": "99213", "99213": "99212", "99205": "99204", "99204": "99203", "99203": "99202"}


@dataclass(frozen=True)
class Variance:
    """What the simulator does to one priced line's allowed amount (the seeded truth)."""

    kind: str  # underpaid | downcoded | overpaid
    allowed: Decimal
    paid_code: str


def seeded_variances(claim: Claim, config: "SimConfig") -> dict[int, Variance]:
    """Lines the simulator pays off-contract, by line number (deterministic per seed and claim
    id, independent of the denial draw). Denied lines are left out by ``adjudicate``."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"payer-sim-variance\x1f{config.seed}\x1f{claim.claim_id}".encode()).digest()[:8], "big"))
    out: dict[int, Variance] = {}
    for line in claim.lines:
        exp = line.expected_allowed
        u = rng.random()
        shortfall_share = Decimal(str(round(rng.uniform(0.06, 0.25), 2)))
        if exp is None or exp.amount is None or exp.amount <= 0:
            continue
        expected, tol = exp.amount, exp.tolerance_amount
        gap = max(money(expected * shortfall_share), tol + Decimal("1.00"))
        if u < config.downcode_rate and line.procedure_code in DOWNCODE:
            out[line.line_number] = Variance("downcoded", max(ZERO, money(expected - max(money(expected * Decimal("0.28")), tol + Decimal("1.00")))),
                                             DOWNCODE[line.procedure_code])
        elif u < config.downcode_rate + config.underpay_rate and gap < expected:
            out[line.line_number] = Variance("underpaid", expected - gap, line.procedure_code)
        elif u < config.downcode_rate + config.underpay_rate + config.overpay_rate and expected + gap <= money(line.charge):
            out[line.line_number] = Variance("overpaid", expected + gap, line.procedure_code)
    return out


def _is_visit(line: ServiceLine) -> bool:
    return line.procedure_code[:3] in {"992", "993", "994"} or line.procedure_code in {"G0438", "G0439"}


def _draw_denial(rng: random.Random, config: SimConfig, claim: Claim) -> tuple[str | None, int | None]:
    """(denial kind, line index it hits) or (None, None)."""
    u = rng.random()
    acc = 0.0
    kind = None
    for k in DENIAL_KINDS:
        acc += config.denial_rates.get(k, 0.0)
        if u < acc:
            kind = k
            break
    if kind is None or kind in WHOLE_CLAIM:
        return kind, None
    n = len(claim.lines)
    if kind == "CO-97":
        if n < 2:
            return None, None  # nothing to bundle into
        return kind, rng.randrange(1, n)
    if kind == "CO-197":
        procs = [i for i, l in enumerate(claim.lines) if not _is_visit(l)]
        return kind, (rng.choice(procs) if procs else 0)
    return kind, rng.randrange(n)


def adjudicate(claim: Claim, config: SimConfig | None = None, as_of: datetime | None = None) -> Adjudication:
    """A realistic primary-payer adjudication of ``claim`` (same claim + seed + ``as_of`` =
    same remit). ``as_of`` is when the simulator answers (the service passes the claim
    record's broker timestamp, stable across redeliveries): the remittance is never dated
    after it, so a simulator that answers at once does not date remittances in the future."""
    config = config or SimConfig()
    rng = rng_for(claim.claim_id, config.seed)
    payer = claim.coverage.payer_id if claim.coverage else "UNKNOWN"
    prof = config.profile(payer)
    remit_date = claim.created_at.date() + timedelta(days=rng.randint(*config.remit_lag_days))
    received_at = datetime.combine(remit_date, time(6, 0), tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 600))
    if as_of is not None:
        as_of = max(as_of, claim.created_at)
        remit_date = min(remit_date, as_of.date())
        received_at = max(claim.created_at, min(received_at, as_of))
    pccn = f"{payer[:3]}{rng.randint(10**10, 10**11 - 1)}"
    kind, hit = _draw_denial(rng, config, claim)
    deductible_left = money(Decimal(rng.randint(20, int(prof.deductible_max)))) if (prof.deductible_max > 0 and rng.random() < prof.deductible_rate) else ZERO
    copay_left = prof.copay
    claim_remarks: list[str] = []
    lines: list[ServicePayment] = []
    variances = seeded_variances(claim, config)
    b6_rng = rng_for(claim.claim_id + "\x1fb6", config.seed)
    for i, line in enumerate(claim.lines):
        charge = money(line.charge)
        denied_here = kind in WHOLE_CLAIM or i == hit
        if denied_here:
            group_carc = kind.split("-")
            adjs = [Adjustment(group_code=AdjustmentGroup(group_carc[0]), reason_code=group_carc[1], amount=charge,
                               quantity=money(Decimal(line.units)))]
            remarks = [] if kind in WHOLE_CLAIM else list(DENIAL_REMARKS[kind])
            lines.append(ServicePayment(line_number=line.line_number, procedure_code=line.procedure_code,
                                        modifiers=list(line.modifiers), charge=charge, paid_amount=ZERO,
                                        units_paid=ZERO, adjustments=adjs, remark_codes=remarks))
            continue
        paid_code, original = line.procedure_code, None
        expected = line.expected_allowed.amount if line.expected_allowed is not None else None
        if expected is not None:
            v = variances.get(line.line_number)
            allowed = min(v.allowed if v else expected, charge)
            if v is not None and v.paid_code != line.procedure_code:
                paid_code, original = v.paid_code, line.procedure_code
        else:
            allowed = min(money(charge * prof.allowed_ratio), charge)
        adjs = []
        if charge - allowed > 0:
            adjs.append(Adjustment(group_code=CO, reason_code="45", amount=charge - allowed))
        remaining = allowed
        ded = min(deductible_left, remaining)
        if ded > 0:
            adjs.append(Adjustment(group_code=PR, reason_code="1", amount=ded))
            deductible_left -= ded
            remaining -= ded
        copay = min(copay_left, remaining) if _is_visit(line) else ZERO
        if copay > 0:
            adjs.append(Adjustment(group_code=PR, reason_code="3", amount=copay))
            copay_left -= copay
            remaining -= copay
        coins = money(remaining * prof.coinsurance)
        if coins > 0:
            adjs.append(Adjustment(group_code=PR, reason_code="2", amount=coins))
            remaining -= coins
        with_b6 = b6_rng.random() < config.allowed_amount_rate
        lines.append(ServicePayment(line_number=line.line_number, procedure_code=paid_code,
                                    modifiers=list(line.modifiers), charge=charge, paid_amount=remaining,
                                    units_paid=money(Decimal(line.units)), adjustments=adjs, remark_codes=[],
                                    original_procedure_code=original, original_modifiers=list(line.modifiers) if original else [],
                                    allowed_amount=allowed if with_b6 else None, amounts={"B6": allowed} if with_b6 else {}))
    if kind in WHOLE_CLAIM:
        claim_remarks = list(DENIAL_REMARKS[kind])
    paid = sum((l.paid_amount for l in lines), ZERO)
    pr = sum((a.amount for l in lines for a in l.adjustments if a.group_code == PR), ZERO)
    total = sum((l.charge for l in lines), ZERO)
    if paid == ZERO and pr == ZERO:
        status = "4"
    elif payer == "MCR01" and rng.random() < prof.forwarded_rate:
        status = "19"
        claim_remarks.append("MA18")
    else:
        status = "1"
    return Adjudication(
        adjudication_id=adjudication_id(payer, claim.claim_id, pccn, status, remit_date), claim_id=claim.claim_id,
        payer_id=payer, payer_claim_control_number=pccn, claim_status_code=status, total_charge=total, paid_amount=paid,
        patient_responsibility=pr, remittance_date=remit_date, trace_number=f"EFT{rng.randint(10**8, 10**9 - 1)}",
        claim_adjustments=[], remark_codes=claim_remarks, service_lines=lines, received_at=received_at, source=SOURCE,
    )


def reversal_of(adj: Adjudication, remittance_date=None, received_at: datetime | None = None) -> Adjudication:
    """The CLP02=22 remit that takes ``adj`` back: same payer control number, every amount
    negated (5010 has no CR group code)."""
    remittance_date = remittance_date or adj.remittance_date + timedelta(days=14)
    received_at = received_at or datetime.combine(remittance_date, time(6, 0), tzinfo=timezone.utc)

    def neg(a: Adjustment) -> Adjustment:
        return a.model_copy(update={"amount": -a.amount, "quantity": -a.quantity if a.quantity is not None else None})

    lines = [l.model_copy(update={"charge": -l.charge, "paid_amount": -l.paid_amount,
                                  "units_paid": -l.units_paid if l.units_paid is not None else None,
                                  "adjustments": [neg(a) for a in l.adjustments]}) for l in adj.service_lines]
    return adj.model_copy(update={
        "adjudication_id": adjudication_id(adj.payer_id, adj.claim_id, adj.payer_claim_control_number, "22", remittance_date),
        "claim_status_code": "22", "total_charge": -adj.total_charge, "paid_amount": -adj.paid_amount,
        "patient_responsibility": -adj.patient_responsibility, "remittance_date": remittance_date,
        "claim_adjustments": [neg(a) for a in adj.claim_adjustments], "service_lines": lines, "received_at": received_at,
    })


# --- appeals -------------------------------------------------------------------------------

# Chance a first-level appeal is overturned, by CARC (our own estimates, in the spirit of
# published overturn rates: medical necessity and authorization appeals are often won,
# timely filing and duplicates almost never). Payers differ by a factor; wins are partial
# with ``partial_share``.
APPEAL_ODDS: dict[str, float] = {
    "50": 0.55, "151": 0.50, "150": 0.45, "55": 0.35, "197": 0.45, "198": 0.40, "252": 0.50,
    "97": 0.25, "236": 0.25, "59": 0.30, "16": 0.10, "29": 0.15, "18": 0.05, "204": 0.20, "96": 0.20,
}
DEFAULT_APPEAL_ODDS = 0.35
PAYER_APPEAL_FACTOR: dict[str, float] = {"MCR01": 1.1, "MCD17": 0.8, "BCX22": 1.0, "AET45": 0.9}


@dataclass(frozen=True)
class AppealSimConfig:
    seed: int = 7
    odds: dict[str, float] = field(default_factory=lambda: dict(APPEAL_ODDS))
    default_odds: float = DEFAULT_APPEAL_ODDS
    payer_factor: dict[str, float] = field(default_factory=lambda: dict(PAYER_APPEAL_FACTOR))
    partial_share: float = 0.15
    decision_days: tuple[int, int] = (20, 60)  # days from filing to the payer's decision
    level_factor: float = 0.8  # each further level is a little harder to win

    def win_odds(self, payer_id: str, carc: str, level_index: int = 0) -> float:
        p = self.odds.get(carc, self.default_odds) * self.payer_factor.get(payer_id, 1.0) * self.level_factor ** level_index
        return max(0.0, min(0.95, p))


def answer_appeal(action, config: AppealSimConfig | None = None, received_at: datetime | None = None):
    """The payer's decision on a filed appeal (an ``AppealAction`` with action ``filed``), or
    None for any other action. Deterministic per (seed, work item, level): a redelivered
    filing, or the same appeal filed twice under two action ids, gets the same outcome id,
    which the adjudicator applies once."""
    from claimflow.models import AppealActionKind, AppealLevel, AppealOutcome, AppealOutcomeKind

    if action.action != AppealActionKind.FILED:
        return None
    config = config or AppealSimConfig()
    appeal_key = f"appeal\x1f{action.work_item_id}\x1f{action.appeal_level.value if action.appeal_level else '-'}"
    rng = rng_for(appeal_key, config.seed)
    payer = action.payer_id or "UNKNOWN"
    carc = action.reason_code or ""
    level = action.appeal_level or AppealLevel.PAYER_INTERNAL
    level_index = list(AppealLevel).index(level) if level != AppealLevel.PAYER_INTERNAL else 0
    amount = money(action.appealed_amount or ZERO)
    u = rng.random()
    p = config.win_odds(payer, carc, level_index)
    if u < p * config.partial_share:
        kind, recovered = AppealOutcomeKind.PARTIALLY_OVERTURNED, money(amount * Decimal("0.5"))
    elif u < p:
        kind, recovered = AppealOutcomeKind.OVERTURNED, amount
    else:
        kind, recovered = AppealOutcomeKind.UPHELD, ZERO
    decided = action.filed_on + timedelta(days=rng.randint(*config.decision_days))
    return AppealOutcome(
        outcome_id="AO" + hashlib.sha256(f"{config.seed}\x1f{appeal_key}".encode()).hexdigest()[:18].upper(),
        work_item_id=action.work_item_id, claim_id=action.claim_id, payer_id=payer, reason_code=carc, appeal_level=level,
        outcome=kind, recovered_amount=recovered, decided_on=decided,
        received_at=received_at or datetime.combine(decided, time(6, 0), tzinfo=timezone.utc),
    )
