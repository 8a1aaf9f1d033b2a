"""835 details that prove an underpayment: SVC06/SVC07 (downcode), AMT*B6 and every AMT/QTY,
the whole REF*6R, and the SE01 rule (posted with a structural warning when the set is
complete and balanced; refused when strict or unbalanced)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from services.payer_gateway.importer import parse_bytes

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "remits"
DATA = (FIX / "downcoded-99214-paid-as-99213-amt-b6.835").read_bytes()
AT = datetime(2026, 11, 25, tzinfo=timezone.utc)
D = Decimal


def parse(data: bytes = DATA, strict: bool = False):
    return parse_bytes(data, "downcoded.835", AT, strict=strict)


def test_svc06_amt_qty_and_ref_6r_are_kept():
    pf = parse()
    assert pf.ok and [f.code for f in pf.findings if f.severity == "error"] == []
    (adj,) = pf.adjudications
    first, second = adj.service_lines
    assert (first.procedure_code, first.original_procedure_code, first.original_units, first.downcoded) == ("99213", "99214", D("1.00"), True)
    assert first.billed_procedure_code == "99214"
    assert first.allowed_amount == D("116.00") and first.amounts == {"B6": D("116.00")}
    assert first.line_item_control_number == "CLM123456-001" and first.line_number is None  # another system's reference
    assert first.label == "service line ref CLM123456-001 (99213)"
    assert second.line_number == 2 and second.line_item_control_number == "2" and not second.downcoded
    assert second.allowed_amount == D("76.00") and second.quantities == {"ZK": D("1.00")}
    assert adj.claim_amounts == {"AU": D("192.00"), "D": D("153.60")} and adj.claim_quantities == {"CA": D("1.00")}
    assert adj.structural_warnings == []


def test_ref_6r_line_numbers_only_when_present():
    from services.payer_gateway.reader_835 import _line_number
    assert _line_number("3", "CF1") == 3 and _line_number("CF1L4", "CF1") == 4 and _line_number("CF1-005", "CF1") == 5
    assert _line_number("CLM123456-001", "CF1") is None and _line_number("ABC", "CF1") is None and _line_number("0", "CF1") is None


def test_se01_count_mismatch_in_a_balanced_set_is_posted_with_a_warning():
    pf = parse(DATA.replace(b"SE*27*0001~", b"SE*25*0001~"))
    assert pf.errors == []
    (adj,) = pf.adjudications
    assert adj.structural_warnings == ["SE01 segment count '25' does not match the 27 segments ST..SE"]
    assert [f.code for f in pf.findings if f.code == "ENV-SE01"] == ["ENV-SE01"]


def test_strict_keeps_the_refusal():
    pf = parse(DATA.replace(b"SE*27*0001~", b"SE*25*0001~"), strict=True)
    assert pf.adjudications == [] and len(pf.errors) == 1 and "SE01" in pf.errors[0].reason
    assert pf.errors[0].raw.startswith(b"ST*835*0001~")  # original bytes kept for the dead letter


def test_se01_mismatch_and_unbalanced_is_refused():
    unbalanced = DATA.replace(b"SE*27*0001~", b"SE*25*0001~").replace(b"BPR*I*153.6*", b"BPR*I*150*")
    pf = parse(unbalanced)
    assert pf.adjudications == [] and len(pf.errors) == 1
    assert "does not balance" in pf.errors[0].reason and pf.errors[0].raw.count(b"CLP*") == 1


def test_se02_mismatch_is_still_an_error():
    pf = parse(DATA.replace(b"SE*27*0001~", b"SE*27*0002~"))
    assert pf.adjudications == [] and "SE02" in pf.errors[0].reason
