"""837P (005010X222A1) professional claim writer.

``build_interchange`` is pure (claims + control numbers in, bytes out). ``export_claims``
adds the side effects of a drop-folder gateway: persistent control numbers, atomic file
writes into the outbox (temp + os.replace, so an SFTP poller never sees half a file) and
the submission ledger that makes a redelivered claim a no-op."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from claimflow.models import (Address, AdministrativeSex, Adjustment, Claim, PlanType, Provider, SubscriberRelationship)
from services.payer_gateway.amounts import fmt_amount
from services.payer_gateway.state import ControlNumberStore, SubmissionLedger, SubmissionRecord, atomic_write

IMPLEMENTATION = "005010X222A1"
ELEMENT, COMPONENT, REPETITION, TERMINATOR = "*", ":", "^", "~"
_UNSAFE = re.compile(r"[*:~^\x00-\x1f\x7f-\uffff]")

FILING_INDICATOR = {PlanType.MEDICARE: "MB", PlanType.MEDICAID: "MC", PlanType.COMMERCIAL: "CI", PlanType.TRICARE: "CH",
                    PlanType.SELF_PAY: "09", PlanType.OTHER: "ZZ"}
PATIENT_RELATIONSHIP = {SubscriberRelationship.SPOUSE: "01", SubscriberRelationship.CHILD: "19", SubscriberRelationship.OTHER: "G8"}
SEX = {AdministrativeSex.FEMALE: "F", AdministrativeSex.MALE: "M", AdministrativeSex.UNKNOWN: "U"}
HONORIFICS = {"DR", "DR.", "MR", "MR.", "MRS", "MRS.", "MS", "MS.", "PROF", "PROF."}


# --- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    """ISA08/GS03 and 1000B. Usually a clearinghouse; defaults to the payer itself."""

    id: str
    name: str
    qualifier: str = "ZZ"


@dataclass(frozen=True)
class GatewayConfig:
    submitter_id: str
    submitter_name: str
    contact_name: str
    contact_phone: str
    billing_address: Address                 # 2010AA N3/N4 (Provider has no address in the contract)
    receivers: dict[str, Receiver] = field(default_factory=dict)   # payer_id -> receiver
    default_receiver: Receiver | None = None
    sender_qualifier: str = "ZZ"
    usage_indicator: str = "T"               # ISA15: T test, P production
    max_claims_per_transaction: int = 500
    segment_newlines: bool = False           # "~\n" between segments (readability)

    def receiver_for(self, claim: Claim) -> Receiver:
        payer_id = claim.coverage.payer_id if claim.coverage else ""
        if payer_id in self.receivers:
            return self.receivers[payer_id]
        if self.default_receiver is not None:
            return self.default_receiver
        return Receiver(id=payer_id, name=claim.coverage.payer_name if claim.coverage else payer_id)


@dataclass(frozen=True)
class Subscriber:
    """The insured when the patient is a dependent (the Claim contract only carries the patient)."""

    first_name: str
    last_name: str
    date_of_birth: date | None = None
    sex: AdministrativeSex = AdministrativeSex.UNKNOWN
    address: Address | None = None


@dataclass(frozen=True)
class LineAdjudication:
    """2430: how another payer adjudicated one of our lines."""

    line_number: int
    paid_amount: Decimal
    adjudication_date: date
    adjustments: list[Adjustment] = field(default_factory=list)
    paid_units: int | None = None


@dataclass(frozen=True)
class OtherPayer:
    """2320/2330A/2330B: a payer other than the destination payer (COB)."""

    payer_id: str
    payer_name: str
    member_id: str
    responsibility: str = "P"                # SBR01 of that payer: P primary, S secondary, T tertiary
    plan_type: PlanType = PlanType.COMMERCIAL
    relationship: SubscriberRelationship = SubscriberRelationship.SELF
    subscriber_first_name: str | None = None  # default: the patient's (relationship self)
    subscriber_last_name: str | None = None
    group_number: str | None = None
    paid_amount: Decimal | None = None        # AMT*D, when that payer adjudicated the claim
    adjudication_date: date | None = None     # 2330B DTP*573
    claim_adjustments: list[Adjustment] = field(default_factory=list)
    line_adjudications: list[LineAdjudication] = field(default_factory=list)


@dataclass(frozen=True)
class ClaimExtras:
    """Optional submission data the Claim contract does not carry (yet)."""

    payer_responsibility: str = "P"          # 2000B SBR01 of the destination payer
    subscriber: Subscriber | None = None
    other_payers: list[OtherPayer] = field(default_factory=list)
    payer_claim_control_number: str | None = None  # REF*F8 for frequency 7/8


class ClaimExportError(ValueError):
    """The claim cannot be expressed as a valid 837P; the message carries no PHI."""


# --- segment helpers --------------------------------------------------------------------


def clean(value: object, max_len: int | None = None) -> str:
    s = _UNSAFE.sub(" ", str(value)).upper()
    s = re.sub(r"\s+", " ", s).strip()
    return s[:max_len].rstrip() if max_len else s


def _seg(*elements: object) -> str:
    parts = ["" if e is None else str(e) for e in elements]
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return ELEMENT.join(parts)


def _comp(*parts: object) -> str:
    vals = ["" if p is None else str(p) for p in parts]
    while len(vals) > 1 and vals[-1] == "":
        vals.pop()
    return COMPONENT.join(vals)


def _d8(d: date) -> str:
    return d.strftime("%Y%m%d")


def _person_name(name: str) -> tuple[str, str]:
    words = [w for w in clean(name).replace(",", " ").split(" ") if w and w not in HONORIFICS]
    if not words:
        return "UNKNOWN", ""
    if len(words) == 1:
        return words[0][:60], ""
    return words[-1][:60], words[0][:35]


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def _n3n4(addr: Address) -> list[str]:
    return [_seg("N3", clean(addr.line1, 55)),
            _seg("N4", clean(addr.city, 30), clean(addr.state, 2), _digits(addr.postal_code)[:9])]


def _cas(adjs: list[Adjustment]) -> list[str]:
    """Group adjustments by CAS01 and pack up to six reason/amount/quantity triplets."""
    by_group: OrderedDict[str, list[Adjustment]] = OrderedDict()
    for a in adjs:
        by_group.setdefault(a.group_code.value, []).append(a)
    out = []
    for group, items in by_group.items():
        for i in range(0, len(items), 6):
            elems: list[object] = ["CAS", group]
            for a in items[i:i + 6]:
                elems += [a.reason_code, fmt_amount(a.amount), fmt_amount(a.quantity) if a.quantity is not None else ""]
            out.append(_seg(*elems))
    return out


def validate_claim(claim: Claim, extras: ClaimExtras | None) -> None:
    """Raise ClaimExportError when the claim lacks what a valid 837P needs."""
    if claim.coverage is None:
        raise ClaimExportError("no primary coverage (2000B/2010BB)")
    if not claim.diagnoses:
        raise ClaimExportError("no diagnosis (HI)")
    if len(claim.diagnoses) > 12:
        raise ClaimExportError("more than 12 diagnoses (HI allows 12)")
    if not claim.lines:
        raise ClaimExportError("no service line (2400)")
    if len(claim.lines) > 50:
        raise ClaimExportError("more than 50 service lines (2400 repeats 50 times)")
    if not claim.billing_provider.tax_id or len(_digits(claim.billing_provider.tax_id)) != 9:
        raise ClaimExportError("billing provider tax id (REF*EI) missing or not 9 digits")
    for p in (claim.billing_provider, claim.rendering_provider):
        if not re.fullmatch(r"\d{10}", p.npi or ""):
            raise ClaimExportError("provider NPI is not 10 digits")
    for line in claim.lines:
        if not line.diagnosis_pointers or any(p < 1 or p > len(claim.diagnoses) for p in line.diagnosis_pointers):
            raise ClaimExportError(f"line {line.line_number}: diagnosis pointer outside 1..{len(claim.diagnoses)}")
        if len(line.procedure_code) != 5:
            raise ClaimExportError(f"line {line.line_number}: procedure code is not 5 characters")
    total = sum((l.charge for l in claim.lines), Decimal("0.00"))
    if total != claim.total_charge:
        raise ClaimExportError("claim total charge differs from the sum of line charges")
    if claim.frequency_code in ("7", "8") and not ((extras and extras.payer_claim_control_number) or claim.original_claim_id):
        raise ClaimExportError("replacement/void claim without the original claim reference (REF*F8)")
    dependent = claim.coverage.relationship != SubscriberRelationship.SELF
    if dependent:
        if extras is None or extras.subscriber is None:
            raise ClaimExportError("patient is a dependent but no subscriber demographics were supplied")
        if claim.patient.address is None:
            raise ClaimExportError("dependent patient has no address (2010CA N3/N4)")
    if extras:
        for op in extras.other_payers:
            for la in op.line_adjudications:
                if la.line_number not in {l.line_number for l in claim.lines}:
                    raise ClaimExportError(f"other-payer adjudication for unknown line {la.line_number}")


# --- the transaction set ----------------------------------------------------------------


def _claim_segments(claim: Claim, extras: ClaimExtras | None, hl: list[int], parent_hl: int) -> list[str]:
    extras = extras or ClaimExtras()
    cov = claim.coverage
    assert cov is not None
    pat = claim.patient
    dependent = cov.relationship != SubscriberRelationship.SELF
    out: list[str] = []
    hl[0] += 1
    sub_hl = hl[0]
    out.append(_seg("HL", sub_hl, parent_hl, "22", "1" if dependent else "0"))
    out.append(_seg("SBR", extras.payer_responsibility, "" if dependent else "18", clean(cov.group_number or "", 50),
                    "", "", "", "", "", FILING_INDICATOR.get(cov.plan_type, "ZZ")))
    if dependent:
        sub = extras.subscriber
        assert sub is not None
        out.append(_seg("NM1", "IL", "1", clean(sub.last_name, 60), clean(sub.first_name, 35), "", "", "", "MI", clean(cov.member_id, 80)))
        if sub.address:
            out += _n3n4(sub.address)
        if sub.date_of_birth:
            out.append(_seg("DMG", "D8", _d8(sub.date_of_birth), SEX[sub.sex]))
    else:
        out.append(_seg("NM1", "IL", "1", clean(pat.last_name, 60), clean(pat.first_name, 35), "", "", "", "MI", clean(cov.member_id, 80)))
        if pat.address:
            out += _n3n4(pat.address)
        out.append(_seg("DMG", "D8", _d8(pat.date_of_birth), SEX[pat.sex]))
    out.append(_seg("NM1", "PR", "2", clean(cov.payer_name, 60) or clean(cov.payer_id), "", "", "", "", "PI", clean(cov.payer_id, 80)))
    if dependent:
        hl[0] += 1
        out.append(_seg("HL", hl[0], sub_hl, "23", "0"))
        out.append(_seg("PAT", PATIENT_RELATIONSHIP.get(cov.relationship, "G8")))
        out.append(_seg("NM1", "QC", "1", clean(pat.last_name, 60), clean(pat.first_name, 35)))
        assert pat.address is not None
        out += _n3n4(pat.address)
        out.append(_seg("DMG", "D8", _d8(pat.date_of_birth), SEX[pat.sex]))
    # 2300
    out.append(_seg("CLM", claim.claim_id, fmt_amount(claim.total_charge), "", "",
                    _comp(claim.place_of_service, "B", claim.frequency_code), "Y", "A", "Y", "Y"))
    if claim.frequency_code in ("7", "8"):
        out.append(_seg("REF", "F8", clean(extras.payer_claim_control_number or claim.original_claim_id or "", 50)))
    hi = ["HI"]
    for i, code in enumerate(claim.diagnoses):
        hi.append(_comp("ABK" if i == 0 else "ABF", clean(code).replace(".", "")))
    out.append(_seg(*hi))
    rend = claim.rendering_provider
    if rend.npi != claim.billing_provider.npi:
        last, first = _person_name(rend.name)
        out.append(_seg("NM1", "82", "1", last, first, "", "", "", "XX", rend.npi))
        if rend.taxonomy:
            out.append(_seg("PRV", "PE", "PXC", clean(rend.taxonomy)))
    for op in extras.other_payers:
        out += _other_payer_segments(claim, op)
    # 2400
    for idx, line in enumerate(claim.lines, start=1):
        out.append(_seg("LX", idx))
        out.append(_seg("SV1", _comp("HC", clean(line.procedure_code), *[clean(m) for m in line.modifiers[:4]]),
                        fmt_amount(line.charge), "UN", line.units, "", "", _comp(*line.diagnosis_pointers)))
        out.append(_seg("DTP", "472", "D8", _d8(claim.date_of_service)))
        out.append(_seg("REF", "6R", f"{claim.claim_id}L{line.line_number}"))
        for op in extras.other_payers:
            for la in op.line_adjudications:
                if la.line_number == line.line_number:
                    out.append(_seg("SVD", clean(op.payer_id, 80), fmt_amount(la.paid_amount),
                                    _comp("HC", clean(line.procedure_code), *[clean(m) for m in line.modifiers[:4]]), "",
                                    la.paid_units if la.paid_units is not None else line.units))
                    out += _cas(la.adjustments)
                    out.append(_seg("DTP", "573", "D8", _d8(la.adjudication_date)))
    return out


def _other_payer_segments(claim: Claim, op: OtherPayer) -> list[str]:
    rel = "18" if op.relationship == SubscriberRelationship.SELF else PATIENT_RELATIONSHIP.get(op.relationship, "G8")
    out = [_seg("SBR", op.responsibility, rel, clean(op.group_number or "", 50), "", "", "", "", "", FILING_INDICATOR.get(op.plan_type, "ZZ"))]
    out += _cas(op.claim_adjustments)
    if op.paid_amount is not None:
        out.append(_seg("AMT", "D", fmt_amount(op.paid_amount)))
    out.append(_seg("OI", "", "", "Y", "P", "", "Y"))
    last = clean(op.subscriber_last_name or claim.patient.last_name, 60)
    first = clean(op.subscriber_first_name or claim.patient.first_name, 35)
    out.append(_seg("NM1", "IL", "1", last, first, "", "", "", "MI", clean(op.member_id, 80)))
    out.append(_seg("NM1", "PR", "2", clean(op.payer_name, 60), "", "", "", "", "PI", clean(op.payer_id, 80)))
    if op.adjudication_date is not None and not op.line_adjudications:
        out.append(_seg("DTP", "573", "D8", _d8(op.adjudication_date)))
    return out


def build_transaction(claims: list[Claim], config: GatewayConfig, receiver: Receiver, st_control: str, now: datetime,
                      extras: dict[str, ClaimExtras] | None = None) -> list[str]:
    """Segments ST..SE (without terminators) for claims already validated."""
    extras = extras or {}
    segs = [_seg("ST", "837", st_control, IMPLEMENTATION),
            _seg("BHT", "0019", "00", f"{st_control}{now:%Y%m%d%H%M%S}", now.strftime("%Y%m%d"), now.strftime("%H%M"), "CH"),
            _seg("NM1", "41", "2", clean(config.submitter_name, 60), "", "", "", "", "46", clean(config.submitter_id, 80)),
            _seg("PER", "IC", clean(config.contact_name, 60), "TE", _digits(config.contact_phone)),
            _seg("NM1", "40", "2", clean(receiver.name, 60), "", "", "", "", "46", clean(receiver.id, 80))]
    hl = [0]
    by_billing: OrderedDict[tuple[str, str], list[Claim]] = OrderedDict()
    for c in claims:
        by_billing.setdefault((c.billing_provider.npi, c.billing_provider.tax_id or ""), []).append(c)
    for group in by_billing.values():
        bp: Provider = group[0].billing_provider
        hl[0] += 1
        bp_hl = hl[0]
        segs.append(_seg("HL", bp_hl, "", "20", "1"))
        if bp.taxonomy:
            segs.append(_seg("PRV", "BI", "PXC", clean(bp.taxonomy)))
        segs.append(_seg("NM1", "85", "2", clean(bp.name, 60), "", "", "", "", "XX", bp.npi))
        segs += _n3n4(config.billing_address)
        segs.append(_seg("REF", "EI", _digits(bp.tax_id or "")))
        for c in group:
            segs += _claim_segments(c, extras.get(c.claim_id), hl, bp_hl)
    segs.append(_seg("SE", len(segs) + 1, st_control))
    return segs


@dataclass
class Interchange837:
    data: bytes
    receiver: Receiver
    interchange_control: str
    group_control: str
    transactions: dict[str, list[str]]   # ST02 -> claim ids


def build_interchange(claims: list[Claim], config: GatewayConfig, receiver: Receiver, isa_control: int, gs_control: int,
                      now: datetime | None = None, extras: dict[str, ClaimExtras] | None = None) -> Interchange837:
    """Pure: one ISA/GS with as many ST as ``max_claims_per_transaction`` requires."""
    now = now or datetime.now(timezone.utc)
    isa13 = f"{isa_control:09d}"
    gs06 = str(gs_control)
    sender = clean(config.submitter_id, 15)
    recv = clean(receiver.id, 15)
    segs = [_seg("ISA", "00", " " * 10, "00", " " * 10, config.sender_qualifier, sender.ljust(15), receiver.qualifier,
                 recv.ljust(15), now.strftime("%y%m%d"), now.strftime("%H%M"), REPETITION, "00501", isa13, "0",
                 config.usage_indicator, COMPONENT),
            _seg("GS", "HC", sender, recv, now.strftime("%Y%m%d"), now.strftime("%H%M"), gs06, "X", IMPLEMENTATION)]
    transactions: dict[str, list[str]] = {}
    size = max(1, config.max_claims_per_transaction)
    for n, i in enumerate(range(0, len(claims), size), start=1):
        batch = claims[i:i + size]
        st02 = f"{n:04d}"
        segs += build_transaction(batch, config, receiver, st02, now, extras)
        transactions[st02] = [c.claim_id for c in batch]
    segs.append(_seg("GE", len(transactions), gs06))
    segs.append(_seg("IEA", "1", isa13))
    sep = TERMINATOR + ("\n" if config.segment_newlines else "")
    return Interchange837(data=(sep.join(segs) + sep).encode("ascii"), receiver=receiver, interchange_control=isa13,
                          group_control=gs06, transactions=transactions)


# --- the drop-folder export -------------------------------------------------------------


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    written: list[str] = field(default_factory=list)       # claim ids written by this call
    duplicates: list[str] = field(default_factory=list)    # already written earlier (or twice in this call)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (claim id, reason without PHI)


def export_claims(claims: list[Claim], config: GatewayConfig, state_dir: Path | str, outbox: Path | str,
                  extras: dict[str, ClaimExtras] | None = None, now: datetime | None = None) -> ExportResult:
    """Write each not-yet-written claim once into an 837P file per receiver in ``outbox``."""
    now = now or datetime.now(timezone.utc)
    extras = extras or {}
    result = ExportResult()
    ledger = SubmissionLedger(state_dir)
    counters = ControlNumberStore(state_dir)
    outbox = Path(outbox)
    seen: set[str] = set()
    by_receiver: OrderedDict[Receiver, list[Claim]] = OrderedDict()
    for claim in claims:
        if claim.claim_id in seen or ledger.already_written(claim.claim_id):
            result.duplicates.append(claim.claim_id)
            continue
        seen.add(claim.claim_id)
        try:
            validate_claim(claim, extras.get(claim.claim_id))
        except ClaimExportError as exc:
            result.rejected.append((claim.claim_id, str(exc)))
            continue
        by_receiver.setdefault(config.receiver_for(claim), []).append(claim)
    for receiver, batch in by_receiver.items():
        isa = counters.next("isa")
        gs = counters.next("gs")
        ic = build_interchange(batch, config, receiver, isa, gs, now, extras)
        name = f"{re.sub(r'[^A-Za-z0-9_-]', '_', receiver.id) or 'PAYER'}_{ic.interchange_control}.837"
        path = outbox / name
        atomic_write(path, ic.data)
        # ledger after the file: a crash in between re-sends (at-least-once), never loses a claim
        ledger.record([SubmissionRecord(claim_id=cid, interchange=ic.interchange_control, group=ic.group_control,
                                        transaction=st02, file=name, receiver=receiver.id)
                       for st02, cids in ic.transactions.items() for cid in cids])
        result.files.append(path)
        result.written += [c.claim_id for c in batch]
    return result
