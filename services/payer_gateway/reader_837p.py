"""A small 837P (005010X222A1) reader: enough to round-trip what the writer produces and
to read the claim-level money and codes of third-party 837P files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from services.payer_gateway.amounts import money
from services.payer_gateway.segments import Delimiters, TransactionSet, X12SyntaxError, parse_date8


@dataclass
class Line837:
    line_number: int                 # from REF*6R when it carries ours, else the LX counter
    procedure_code: str
    modifiers: list[str]
    charge: Decimal
    units: Decimal
    diagnosis_pointers: list[int]
    service_date: date | None
    control_number: str | None
    other_payer_paid: dict[str, Decimal] = field(default_factory=dict)   # SVD01 -> SVD02


@dataclass
class OtherPayer837:
    responsibility: str
    payer_id: str | None
    paid_amount: Decimal | None
    claim_adjustment_total: Decimal


@dataclass
class Claim837:
    claim_id: str
    total_charge: Decimal
    place_of_service: str
    frequency_code: str
    diagnoses: list[str]
    lines: list[Line837]
    billing_npi: str | None
    billing_tax_id: str | None
    payer_id: str | None
    member_id: str | None
    payer_responsibility: str
    patient_relationship: str | None    # PAT01 when a 2000C loop exists
    rendering_npi: str | None
    other_payers: list[OtherPayer837]
    control_number: str
    position: int


def read_837p(txn: TransactionSet, delims: Delimiters) -> list[Claim837]:
    claims: list[Claim837] = []
    billing_npi = tax_id = payer_id = member_id = None
    responsibility = "P"
    relationship = None
    level = ""
    claim: Claim837 | None = None
    line: Line837 | None = None
    other: OtherPayer837 | None = None
    lx = 0
    comp = delims.component
    for seg in txn.body:
        sid = seg.id
        if sid == "HL":
            level = seg.get(3)
            claim, line, other = None, None, None
            if level == "22":
                relationship, payer_id, member_id = None, None, None
            continue
        if claim is None:
            if sid == "NM1" and seg.get(1) == "85":
                billing_npi = seg.get(9) or None
            elif sid == "REF" and seg.get(1) == "EI" and level == "20":
                tax_id = seg.get(2)
            elif sid == "SBR" and level == "22":
                responsibility = seg.get(1)
            elif sid == "NM1" and seg.get(1) == "IL":
                member_id = seg.get(9) or None
            elif sid == "NM1" and seg.get(1) == "PR":
                payer_id = seg.get(9) or None
            elif sid == "PAT":
                relationship = seg.get(1)
            elif sid == "CLM":
                c5 = seg.get(5).split(comp)
                if not c5[0]:
                    raise X12SyntaxError("CLM05-1 place of service is missing", seg.position)
                c5 += ["", "", ""]
                claim = Claim837(claim_id=seg.get(1), total_charge=money(seg.get(2), "CLM02", seg.position),
                                 place_of_service=c5[0], frequency_code=c5[2], diagnoses=[], lines=[], billing_npi=billing_npi,
                                 billing_tax_id=tax_id, payer_id=payer_id, member_id=member_id, payer_responsibility=responsibility,
                                 patient_relationship=relationship, rendering_npi=None, other_payers=[],
                                 control_number=txn.control_number, position=seg.position)
                claims.append(claim)
                lx = 0
            continue
        if sid == "HI" and line is None:
            for i in range(1, 13):
                parts = seg.get(i).split(comp)
                if len(parts) >= 2 and parts[0] in ("ABK", "ABF", "BK", "BF"):
                    claim.diagnoses.append(parts[1])
        elif sid == "NM1" and seg.get(1) == "82" and line is None:
            claim.rendering_npi = seg.get(9) or None
        elif sid == "SBR" and line is None:
            other = OtherPayer837(responsibility=seg.get(1), payer_id=None, paid_amount=None, claim_adjustment_total=Decimal("0.00"))
            claim.other_payers.append(other)
        elif sid == "CAS" and line is None and other is not None:
            for i in range(3, 20, 3):
                if seg.get(i):
                    other.claim_adjustment_total += money(seg.get(i), f"CAS{i:02d}", seg.position)
        elif sid == "AMT" and seg.get(1) == "D" and other is not None and line is None:
            other.paid_amount = money(seg.get(2), "AMT02", seg.position)
        elif sid == "NM1" and seg.get(1) == "PR" and other is not None and line is None:
            other.payer_id = seg.get(9) or None
        elif sid == "LX":
            lx += 1
            line = None
        elif sid == "SV1":
            parts = seg.get(1).split(comp)
            if len(parts) < 2:
                raise X12SyntaxError("SV101 needs qualifier and procedure code", seg.position)
            pointers = [int(p) for p in seg.get(7).split(comp) if p.isdigit()]
            line = Line837(line_number=lx, procedure_code=parts[1], modifiers=[p for p in parts[2:6] if p],
                           charge=money(seg.get(2), "SV102", seg.position), units=money(seg.get(4) or "1", "SV104", seg.position),
                           diagnosis_pointers=pointers, service_date=None, control_number=None)
            claim.lines.append(line)
        elif sid == "DTP" and seg.get(1) == "472" and line is not None:
            line.service_date = parse_date8(seg.get(3)[:8])
        elif sid == "REF" and seg.get(1) == "6R" and line is not None:
            line.control_number = seg.get(2)
            m = re.match(rf"^{re.escape(claim.claim_id)}L(\d+)$", seg.get(2))
            if m:
                line.line_number = int(m.group(1))
        elif sid == "SVD" and line is not None:
            line.other_payer_paid[seg.get(1)] = money(seg.get(2), "SVD02", seg.position)
    return claims
