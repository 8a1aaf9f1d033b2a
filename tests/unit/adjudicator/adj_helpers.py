from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from claimflow.ids import adjudication_id, claim_id
from claimflow.models import (
    Adjudication,
    Adjustment,
    AdjustmentGroup,
    Claim,
    Coverage,
    EditFamily,
    EditFinding,
    Patient,
    PlanType,
    Provider,
    ServiceLine,
    ServicePayment,
    Severity,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
REMIT = date(2026, 3, 1)


def D(x: str | int) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.01"))


def adj_code(code: str, amount: str | int) -> Adjustment:
    group, carc = code.split("-", 1)
    return Adjustment(group_code=AdjustmentGroup(group), reason_code=carc, amount=D(amount))


def make_claim(n: int = 1, lines: list[tuple[str, str]] | None = None, payer: str = "MCR01", findings=None,
               frequency: str = "1", original: str | None = None) -> Claim:
    lines = lines or [("99213", "110.00")]
    sl = [ServiceLine(line_number=i + 1, procedure_code=c, units=1, charge=D(ch), diagnosis_pointers=[1])
          for i, (c, ch) in enumerate(lines)]
    return Claim(
        claim_id=claim_id(f"ENC-T{n}", 1 if frequency == "1" else 2), encounter_id=f"ENC-T{n}", encounter_version=1,
        frequency_code=frequency, original_claim_id=original, created_at=NOW,
        patient=Patient(patient_id="MRN-T", first_name="Test", last_name="Person", date_of_birth=date(1950, 1, 1)),
        coverage=Coverage(payer_id=payer, payer_name="p", plan_type=PlanType.MEDICARE, member_id="M1"),
        rendering_provider=Provider(npi="1234567893", name="Dr"), billing_provider=Provider(npi="1234567893", name="Clinic", tax_id="1"),
        date_of_service=date(2026, 1, 15), place_of_service="11", diagnoses=["I10"], lines=sl,
        total_charge=sum((l.charge for l in sl), Decimal("0.00")), findings=list(findings or []),
    )


def ptp_finding(mi: str, lines: list[int] | None = None) -> EditFinding:
    return EditFinding(rule_id="PTP-001", family=EditFamily.NCCI_PTP, severity=Severity.WARNING, line_numbers=lines or [],
                       source_row={"column1": "11102", "column2": "99213", "modifier_indicator": mi},
                       message="NCCI pair", bypass_modifiers=["59", "XS"] if mi == "1" else [])


def make_adj(cid: str = "CLAIM1", status: str = "1", charge="100.00", paid="0.00", pr="0.00", claim_adjs=(), remarks=(),
             lines=None, payer: str = "MCR01", pccn: str = "PCN1", remit: date = REMIT) -> Adjudication:
    return Adjudication(
        adjudication_id=adjudication_id(payer, cid, pccn, status, remit), claim_id=cid, payer_id=payer,
        payer_claim_control_number=pccn, claim_status_code=status, total_charge=D(charge), paid_amount=D(paid),
        patient_responsibility=D(pr), remittance_date=remit, claim_adjustments=list(claim_adjs), remark_codes=list(remarks),
        service_lines=list(lines or []), received_at=NOW, source="test",
    )


def line(n: int, code: str, charge, paid, adjs=(), remarks=()) -> ServicePayment:
    return ServicePayment(line_number=n, procedure_code=code, charge=D(charge), paid_amount=D(paid),
                          adjustments=list(adjs), remark_codes=list(remarks))

