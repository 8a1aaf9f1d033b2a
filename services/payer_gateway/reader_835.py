"""835 (005010X221A1) health care claim payment/advice reader into Adjudication models."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from pydantic import ValidationError

from claimflow.ids import adjudication_id
from claimflow.models import Adjudication, Adjustment, AdjustmentGroup, ServicePayment, safe_errors, utcnow
from services.payer_gateway.amounts import money, quantity
from services.payer_gateway.results import Finding, ProviderAdjustment, Remittance, X12Error
from services.payer_gateway.segments import Delimiters, Segment, TransactionSet, X12SyntaxError, parse_date8

GROUP_CODES = {g.value for g in AdjustmentGroup}
ZERO = Decimal("0.00")


def _adjustments(seg: Segment) -> list[Adjustment]:
    group = seg.get(1)
    if group not in GROUP_CODES:
        raise X12SyntaxError(f"CAS01 group code {group!r} is not CO/PR/OA/PI/CR", seg.position)
    out = []
    for i in range(2, 20, 3):
        reason = seg.get(i)
        amount = seg.get(i + 1)
        if not reason and not amount:
            continue
        if not reason or len(reason) > 5:
            raise X12SyntaxError(f"CAS{i:02d} adjustment reason code is missing or too long", seg.position)
        out.append(Adjustment(group_code=AdjustmentGroup(group), reason_code=reason,
                              amount=money(amount, f"CAS{i + 1:02d} adjustment amount", seg.position),
                              quantity=quantity(seg.get(i + 2), f"CAS{i + 2:02d} quantity", seg.position)))
    if not out:
        raise X12SyntaxError("CAS has no reason code / amount pair", seg.position)
    return out


def _procedure(seg: Segment, delims: Delimiters, findings: list[Finding], st02: str, element: int = 1) -> tuple[str, list[str]]:
    composite = seg.get(element)
    comp = delims.component
    if comp not in composite:
        m = re.match(r"^[A-Z]{2}([^A-Za-z0-9 ])", composite)
        if m:
            comp = m.group(1)
            findings.append(Finding("SYN-COMPONENT", "warning", f"SVC01 uses {comp!r} as component separator instead of the declared {delims.component!r}", seg.position, control_number=st02))
    parts = composite.split(comp)
    if len(parts) < 2 or not parts[1]:
        raise X12SyntaxError(f"SVC{element:02d} composite has no procedure code (expected qualifier, component separator, code)", seg.position)
    return parts[1], [p for p in parts[2:6] if p]


def _line_number(value: str, claim_id: str) -> int | None:
    """Our line number from a REF*6R line item control number, only when it carries one:
    plain digits ("3"), or our claim id followed by L/-/_ and digits ("CF0123L3",
    "CF0123-003"). Anything else (a payer's own reference such as "CLM123456-001" on another
    claim id) gives None; the whole reference is kept either way."""
    value = value.strip()
    if value.isdigit() and len(value) <= 4:
        return int(value) or None
    m = re.match(r"^(.*?)[L_-](\d{1,4})$", value)
    if m and (m.group(1) == claim_id or not m.group(1)):
        return int(m.group(2)) or None
    return None


def _amount_segment(seg: Segment, target: dict, what: str) -> None:
    """AMT / QTY: qualifier (01) and amount (02) into ``target`` (the last one of a qualifier wins)."""
    qualifier = seg.get(1).strip()
    if not qualifier:
        raise X12SyntaxError(f"{what}01 qualifier is missing", seg.position)
    target[qualifier] = money(seg.get(2), f"{what}02 {qualifier} amount", seg.position)


class _ClaimBuilder:
    def __init__(self, clp: Segment):
        self.clp = clp
        self.segments: list[Segment] = [clp]
        self.claim_cas: list[Adjustment] = []
        self.remarks: list[str] = []
        self.lines: list[dict] = []
        self.amounts: dict = {}
        self.quantities: dict = {}
        self.error: X12SyntaxError | None = None


def read_835(txn: TransactionSet, data: bytes, delims: Delimiters, source: str = "", received_at: datetime | None = None
             ) -> tuple[Remittance | None, list[X12Error]]:
    """Parse one 835 transaction set. Claim-level problems become claim error records
    (the other claims still flow); header problems fail the whole transaction set.
    Envelope problems the walker tolerated (``txn.structural_warnings``, e.g. an SE01
    count mismatch) are carried on every adjudication of the set."""
    received_at = received_at or utcnow()
    st02 = txn.control_number
    src = f"{source}#{txn.group.interchange.control_number}/{txn.group.control_number}/{st02}" if source else f"x12-835:{txn.group.interchange.control_number}:{txn.group.control_number}:{st02}"
    errors: list[X12Error] = []
    findings: list[Finding] = []
    body = txn.body
    bpr = next((s for s in body if s.id == "BPR"), None)
    if bpr is None:
        raise X12SyntaxError("835 has no BPR financial information segment", txn.st.position + 1)
    payment = money(bpr.get(2), "BPR02 total actual provider payment amount", bpr.position)
    trn = next((s for s in body if s.id == "TRN"), None)
    header_dtm = None
    payer_name, payer_ids, payee_id = "", {}, None
    claims: list[_ClaimBuilder] = []
    plbs: list[ProviderAdjustment] = []
    loop = "header"
    current: _ClaimBuilder | None = None
    line: dict | None = None
    for seg in body:
        sid = seg.id
        if sid == "LX" or sid == "TS3" or sid == "TS2":
            loop, current, line = "2000", None, None
            continue
        if sid == "PLB":
            loop, current, line = "summary", None, None
            try:
                plbs.extend(_plb(seg, delims))
            except X12SyntaxError as exc:
                raise X12SyntaxError(f"PLB: {exc.reason}", seg.position) from exc
            continue
        if sid == "CLP":
            current = _ClaimBuilder(seg)
            claims.append(current)
            loop, line = "2100", None
            continue
        if current is None:
            if sid == "DTM" and seg.get(1) == "405":
                header_dtm = parse_date8(seg.get(2))
                if header_dtm is None:
                    findings.append(Finding("DATE-DTM405", "error", "DTM*405 production date is not a valid date", seg.position, control_number=st02))
            elif sid == "N1" and seg.get(1) == "PR":
                loop = "1000A"
                payer_name = seg.get(2)
                if seg.get(4):
                    payer_ids.setdefault("N1", seg.get(4))
            elif sid == "N1" and seg.get(1) == "PE":
                loop = "1000B"
                payee_id = seg.get(4) or None
            elif sid == "REF" and loop == "1000A" and seg.get(1) == "2U":
                payer_ids["2U"] = seg.get(2)
            continue
        current.segments.append(seg)
        if current.error is not None:
            continue
        try:
            if sid == "SVC":
                code, mods = _procedure(seg, delims, findings, st02)
                units = seg.get(5) or None
                original = _procedure(seg, delims, findings, st02, element=6) if seg.get(6) else (None, [])
                line = {"seg": seg, "code": code, "mods": mods,
                        "charge": money(seg.get(2), "SVC02 line charge", seg.position),
                        "paid": money(seg.get(3), "SVC03 line paid amount", seg.position),
                        "units": quantity(units, "SVC05 units paid", seg.position) if units else None,
                        "original_code": original[0], "original_mods": original[1],
                        "original_units": quantity(seg.get(7), "SVC07 original units", seg.position),
                        "cas": [], "remarks": [], "line_number": None, "ref_6r": None, "amounts": {}, "quantities": {}}
                current.lines.append(line)
            elif sid == "CAS":
                (line["cas"] if line is not None else current.claim_cas).extend(_adjustments(seg))
            elif sid == "MOA":
                current.remarks.extend(v for v in (seg.get(i) for i in range(3, 8)) if v)
            elif sid == "MIA":
                current.remarks.extend(v for v in (seg.get(i) for i in (5, 20, 21, 22, 23)) if v)
            elif sid == "LQ" and line is not None and seg.get(2):
                line["remarks"].append(seg.get(2))
            elif sid == "REF" and line is not None and seg.get(1) == "6R":
                line["ref_6r"] = seg.get(2) or None
                line["line_number"] = _line_number(seg.get(2), current.clp.get(1))
            elif sid == "AMT":
                _amount_segment(seg, line["amounts"] if line is not None else current.amounts, "AMT")
            elif sid == "QTY":
                _amount_segment(seg, line["quantities"] if line is not None else current.quantities, "QTY")
        except X12SyntaxError as exc:
            current.error = exc
    payer_id = payer_ids.get("2U") or payer_ids.get("N1") or (trn.get(3) if trn else "") or ""
    remit_date = header_dtm or parse_date8(bpr.get(16))
    if remit_date is None:
        remit_date = parse_date8(txn.group.gs.get(4))
        findings.append(Finding("DATE-REMIT", "warning", "no valid DTM*405 or BPR16 date: remittance date taken from GS04", bpr.position, control_number=st02))
        if remit_date is None:
            raise X12SyntaxError("no remittance date: DTM*405, BPR16 and GS04 are all missing or invalid", bpr.position)
    remittance = Remittance(control_number=st02, source=src, payer_id=payer_id, payer_name=payer_name, payee_id=payee_id,
                            payment_amount=payment, credit_debit=bpr.get(3), payment_method=bpr.get(4),
                            trace_number=trn.get(2) if trn else None, remittance_date=remit_date,
                            provider_adjustments=plbs, findings=findings)
    seen_ids: set[str] = set()
    paid_total = ZERO
    for cb in claims:
        clp = cb.clp
        raw = data[cb.segments[0].start:cb.segments[-1].end]
        try:
            if cb.error is not None:
                raise cb.error
            adj = _build_adjudication(cb, payer_id, remit_date, remittance.trace_number, received_at, src, findings, st02)
            if getattr(txn, "structural_warnings", None):
                adj = adj.model_copy(update={"structural_warnings": list(txn.structural_warnings)})
        except X12SyntaxError as exc:
            errors.append(X12Error("claim", f"claim {clp.get(1) or '?'}: {exc.reason}", exc.position or clp.position, raw, source, st02, "835"))
            continue
        except ValidationError as exc:
            errors.append(X12Error("claim", f"claim {clp.get(1) or '?'}: {safe_errors(exc)}", clp.position, raw, source, st02, "835"))
            continue
        if adj.adjudication_id in seen_ids:
            # same payer, claim id, payer control number, status and date as an earlier CLP
            # (e.g. one check paying a claim twice): keep the first id, tell this one apart
            # deterministically by trace number + CLP position so both survive downstream.
            discriminator = f"{remittance.trace_number or ''}:{st02}:{clp.position}"
            adj = adj.model_copy(update={"adjudication_id": adjudication_id(
                payer_id, adj.claim_id, adj.payer_claim_control_number, adj.claim_status_code, remit_date, discriminator)})
            findings.append(Finding("DUP-ADJ", "info", f"claim {adj.claim_id}: a second CLP with the same payer, claim id, payer control number, status and date; its adjudication id is disambiguated by trace number and CLP position", clp.position, adj.claim_id, st02))
        seen_ids.add(adj.adjudication_id)
        paid_total += adj.paid_amount
        remittance.adjudications.append(adj)
    # transaction balancing: BPR02 = sum(CLP04) - sum(PLB); uses every CLP, even ones in error
    all_paid = ZERO
    for cb in claims:
        try:
            all_paid += money(cb.clp.get(4), "CLP04", cb.clp.position)
        except X12SyntaxError:
            pass
    plb_total = sum((p.amount for p in plbs), ZERO)
    signed = -payment if bpr.get(3) == "D" else payment
    if all_paid - plb_total != signed:
        findings.append(Finding("BAL-TXN", "error", f"BPR02 {payment} != sum(CLP04) {all_paid} - sum(PLB) {plb_total}", bpr.position, control_number=st02))
    return remittance, errors


def _build_adjudication(cb: _ClaimBuilder, payer_id: str, remit_date: date, trace: str | None, received_at: datetime,
                        src: str, findings: list[Finding], st02: str) -> Adjudication:
    clp = cb.clp
    pos = clp.position
    claim_id = clp.get(1)
    if not claim_id:
        raise X12SyntaxError("CLP01 claim submitter identifier is missing", pos)
    status = clp.get(2)
    charge = money(clp.get(3), "CLP03 total claim charge", pos)
    paid = money(clp.get(4), "CLP04 claim payment amount", pos)
    pr = money(clp.get(5), "CLP05 patient responsibility", pos, required=False) or ZERO
    pccn = clp.get(7)
    lines = []
    cas_total = sum((a.amount for a in cb.claim_cas), ZERO)
    for ln in cb.lines:
        line_cas = sum((a.amount for a in ln["cas"]), ZERO)
        cas_total += line_cas
        if ln["charge"] - line_cas != ln["paid"]:
            findings.append(Finding("BAL-LINE", "error", f"claim {claim_id}: SVC02 {ln['charge']} - sum(CAS) {line_cas} != SVC03 {ln['paid']}", ln["seg"].position, claim_id, st02))
        lines.append(ServicePayment(line_number=ln["line_number"], procedure_code=ln["code"], modifiers=ln["mods"], charge=ln["charge"],
                                    paid_amount=ln["paid"], units_paid=ln["units"], adjustments=ln["cas"], remark_codes=ln["remarks"],
                                    line_item_control_number=ln["ref_6r"], original_procedure_code=ln["original_code"],
                                    original_modifiers=ln["original_mods"], original_units=ln["original_units"],
                                    allowed_amount=ln["amounts"].get("B6"), amounts=ln["amounts"], quantities=ln["quantities"]))
    if charge - cas_total != paid:
        findings.append(Finding("BAL-CLAIM", "error", f"claim {claim_id}: CLP03 {charge} - sum(CAS) {cas_total} != CLP04 {paid}", pos, claim_id, st02))
    return Adjudication(
        adjudication_id=adjudication_id(payer_id, claim_id, pccn, status, remit_date), claim_id=claim_id, payer_id=payer_id,
        payer_claim_control_number=pccn, claim_status_code=status, total_charge=charge, paid_amount=paid,
        patient_responsibility=pr, remittance_date=remit_date, trace_number=trace, claim_adjustments=cb.claim_cas,
        remark_codes=cb.remarks, service_lines=lines, claim_amounts=cb.amounts, claim_quantities=cb.quantities,
        received_at=received_at, source=src,
    )


def _plb(seg: Segment, delims: Delimiters) -> list[ProviderAdjustment]:
    out = []
    fiscal = parse_date8(seg.get(2))
    for i in range(3, 15, 2):
        ident, amount = seg.get(i), seg.get(i + 1)
        if not ident and not amount:
            continue
        parts = ident.split(delims.component)
        out.append(ProviderAdjustment(provider_id=seg.get(1), fiscal_period_date=fiscal, reason_code=parts[0],
                                      reference_id=parts[1] if len(parts) > 1 else None,
                                      amount=money(amount, f"PLB{i + 1:02d} provider adjustment amount", seg.position), position=seg.position))
    return out
