"""Conformance: the payer gateway reads every 835, 277(CA) and 999 file in ../shared/data/x12
(third-party files, never copied into the repo) and fails loudly but locally on broken ones."""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.payer_gateway.importer import import_path, parse_bytes

pytestmark = pytest.mark.conformance

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
X12 = DATA / "x12"
MANIFEST = X12 / "MANIFEST.tsv"
READ_KINDS = {"835", "277", "999"}
D = Decimal

if not MANIFEST.exists():
    pytest.skip(f"shared test data not found at {X12} (../shared/data is absent on this machine)", allow_module_level=True)


def _rows() -> list[dict]:
    with open(MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()
READABLE = [r for r in ROWS if r["ST01"] in READ_KINDS and not r["file"].startswith("badx12/errors/")]
BROKEN = [r for r in ROWS if r["file"].startswith("badx12/errors/")]


def parse(rel: str):
    return parse_bytes((X12 / rel).read_bytes(), rel)


def _count(rel: str, pattern: str) -> int:
    return len(re.findall(pattern, (X12 / rel).read_text(encoding="latin-1")))


@pytest.mark.parametrize("row", READABLE, ids=[r["file"] for r in READABLE])
def test_every_readable_file_yields_its_records(row):
    pf = parse(row["file"])
    assert pf.kind == row["ST01"]
    assert not [e for e in pf.errors if e.level in ("file", "interchange", "transaction")], [e.reason for e in pf.errors]
    if row["ST01"] == "835":
        # nothing lost: every CLP is either an adjudication or a claim error record
        n_clp = _count(row["file"], r"(?:^|[~\n])\s*CLP\*")
        claim_errors = [e for e in pf.errors if e.level == "claim"]
        assert len(pf.adjudications) + len(claim_errors) == n_clp
        if row["pyx12_4.0.0_x12valid"] == "OK":
            assert claim_errors == []
            assert not [f for f in pf.findings if f.code.startswith("BAL-")], [f.message for f in pf.findings]
        for a in pf.adjudications:
            assert a.adjudication_id.startswith("ADJ") and a.remittance_date
    elif row["ST01"] == "277":
        assert pf.statuses or pf.other_statuses
    else:
        assert pf.acks and all(g.transaction_sets for g in pf.acks)


def test_multiple_claims_single_check_totals():
    pf = parse("badx12/edi/X221-multiple-claims-single-check.edi")
    (r,) = pf.remittances
    assert len(r.adjudications) == 9
    assert r.payment_amount == D("810.80")
    assert sum(a.paid_amount for a in r.adjudications) == D("810.80")
    assert sum(a.total_charge for a in r.adjudications) == D("2819.00")
    assert sum(a.patient_responsibility for a in r.adjudications) == D("970.20")  # 24 + 902 + 44.2
    assert [len(a.service_lines) for a in r.adjudications] == [5, 2, 5, 3, 3, 5, 3, 3, 4]
    assert r.remittance_date == date(2014, 3, 31)  # no DTM*405: BPR16
    assert r.balanced


def test_plb_and_institutional_claims_medicare_part_a():
    for rel in ("lfh-835/medicare-part-a.835", "badx12/edi/X221-dollars-and-data-sent-together.edi"):
        (r,) = parse(rel).remittances
        assert [(p.reason_code, p.reference_id, p.amount) for p in r.provider_adjustments] == [("CV", "CP", D("-1.27"))]
        assert [a.paid_amount for a in r.adjudications] == [D("138018.40"), D("11980.33")]
        assert r.payment_amount == D("150000.00") and r.balanced
        assert r.adjudications[1].remark_codes == ["MA02"]
        assert r.remittance_date == date(2002, 9, 16)


def test_secondary_payments_lines_and_adjustments():
    pf = parse("badx12/edi/X221-secondary-payments.edi")
    a, b = pf.adjudications
    assert (a.claim_id, a.claim_status_code, a.paid_amount) == ("L0004828311", "2", D("912.00"))
    assert [(x.group_code.value, x.reason_code, x.amount) for x in a.claim_adjustments] == [("OA", "23", D("9411.64"))]
    assert (b.total_charge, b.paid_amount, b.patient_responsibility) == (D("751.50"), D("310.00"), D("220.00"))
    line = b.service_lines[1]
    assert (line.procedure_code, line.modifiers, line.charge, line.paid_amount) == ("66543", ["26"], D("585.00"), D("280.00"))
    assert [(x.group_code.value, x.reason_code, x.amount, x.quantity) for x in line.adjustments] == [
        ("PR", "1", D("150.00"), None), ("PR", "2", D("70.00"), None), ("CO", "42", D("85.00"), None)]
    assert pf.remittances[0].payment_amount == D("1222.00") and pf.remittances[0].balanced


def test_denied_claim_with_line_remarks():
    (a,) = parse("pyx12-5010/835_mult_loops.txt").adjudications
    assert (a.claim_status_code, a.total_charge, a.paid_amount) == ("4", D("915.39"), D("0.00"))
    assert [l.remark_codes for l in a.service_lines] == [["N14"]] * 3
    assert [l.units_paid for l in a.service_lines] == [D("68.00"), D("16.00"), D("36.00")]


def test_newline_terminated_mockup_with_wrapped_plb():
    pf = parse("payer-mockups/sample_835.txt")
    assert [r.control_number for r in pf.remittances] == ["0001", "0002", "0003"]
    assert [a.claim_id for a in pf.adjudications] == ["77777777", "77777778", "77777779"]
    third = pf.remittances[2]
    assert len(third.provider_adjustments) == 6
    assert sum(p.amount for p in third.provider_adjustments) == D("-1812.27")
    assert third.payment_amount == D("1812.27") and third.balanced
    codes = {f.code for f in pf.findings}
    assert "SYN-WRAP" in codes and "ENV-IEA02" in codes


def test_malformed_svc_is_a_claim_error_not_a_silent_loss():
    pf = parse("lfh-835/tertiary-payment.835")
    assert pf.adjudications == []
    (err,) = pf.errors
    assert err.level == "claim" and "0001000054" in err.reason and "SVC01" in err.reason
    assert err.raw.startswith(b"CLP*0001000054*3*1766.50")


def test_lfh_wrong_component_separator_is_tolerated():
    pf = parse("lfh-835/secondary-payment.835")
    assert [l.procedure_code for l in pf.adjudications[1].service_lines] == ["12345", "66543"]
    assert any(f.code == "SYN-COMPONENT" for f in pf.findings)


def test_277ca_payer_response():
    pf = parse("x12-tr3-examples/005010x214_health_care_clai__acknowledgment/X214-payer-response.edi")
    got = {s.claim_id: (s.accepted, s.reason) for s in pf.statuses}
    assert got == {
        "PATIENT22222": (True, "STC A2:20"), "PATIENT33333": (False, "STC A3:21; A3:187"),
        "JONES44444": (False, "STC A7:21; A7:249"), "JOHNSON55555": (True, "STC A2:20"), "MILLS66666": (True, "STC A2:20"),
    }
    assert [e.state.value for e in pf.status_events] == ["acknowledged", "rejected", "rejected", "acknowledged", "acknowledged"]
    assert pf.statuses[0].payer_claim_control_number == "220216359803X"


def test_277_claim_status_x212():
    pf = parse("lfh-277-x212/claim-level-status.277")
    assert [(s.claim_id, s.category_code, s.status_code) for s in pf.statuses] == [
        ("ABCXYZ1", "P3", "317"), ("ABCXYZ2", "F0", "3"), ("ABCXYC3", "F2", "88")]
    assert pf.statuses[0].charge == D("8513.88")


def test_999_files():
    acc = parse("999/999_accepted.999").acks[0]
    rej = parse("999/999_rejected.999").acks[0]
    assert (acc.code, acc.transaction_sets[0].accepted) == ("A", True)
    assert (rej.code, rej.transaction_sets[0].accepted, rej.transaction_sets[0].error_codes) == ("R", False, ("5",))
    assert rej.transaction_sets[0].segment_errors[0].segment_id == "NM"
    assert rej.group_control_number == "28" and rej.transaction_sets[0].control_number == "0028"


@pytest.mark.parametrize("row", BROKEN, ids=[r["file"] for r in BROKEN])
def test_broken_files_yield_clear_errors(row):
    pf = parse(row["file"])
    assert pf.errors, "a broken file must yield at least one error record"
    for e in pf.errors:
        assert e.reason and (e.raw or e.level == "interchange")
    name = Path(row["file"]).name
    if name == "bad_file.edi":
        assert pf.errors[0].level == "file" and "ISA" in pf.errors[0].reason
    elif name == "segment_terminator.edi":
        assert pf.errors[0].level == "file"
    elif name == "error_validation.edi":
        (err,) = pf.errors
        assert err.level == "transaction" and "SE01" in err.reason and "SE02" in err.reason
        # the failing transaction set's original bytes carry both claims: nothing is lost
        assert err.raw.startswith(b"ST*835*112233~") and err.raw.count(b"CLP*") == 2
        assert {"ENV-GS04", "ENV-GS01", "ENV-GE01", "ENV-IEA02"} <= {f.code for f in pf.findings}
    elif name == "unknown_segment_error.edi":
        assert any("outside a transaction set" in e.reason for e in pf.errors)


def test_import_whole_tree_counts_and_no_good_claim_lost():
    summary = import_path(X12)
    counts = summary.counts
    assert counts["835"] == sum(1 for r in ROWS if r["ST01"] == "835")
    assert counts["277"] == sum(1 for r in ROWS if r["ST01"] == "277")
    assert counts["999"] == sum(1 for r in ROWS if r["ST01"] == "999")
    readable = {r["file"] for r in READABLE}
    good = [a for f in summary.files if f.source in readable for a in f.adjudications]
    assert len(good) == 29
