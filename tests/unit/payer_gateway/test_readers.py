"""835 / 277CA / 999 readers on hand-written synthetic fixtures (tests/fixtures/x12)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from claimflow.ids import adjudication_id
from claimflow.models import ClaimState
from services.payer_gateway.importer import import_path, parse_bytes
from services.payer_gateway.reader_ack import claim_events_from_999
from services.payer_gateway.state import SubmissionLedger, SubmissionRecord

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "x12"
AT = datetime(2026, 11, 25, tzinfo=timezone.utc)
D = Decimal


def remit(text: bytes | None = None):
    return parse_bytes(text if text is not None else (FIX / "remit_multi.835").read_bytes(), "remit_multi.835", AT)


def test_835_several_transaction_sets_and_claims_per_check():
    pf = remit()
    assert [r.control_number for r in pf.remittances] == ["0001", "0002", "0004"]
    by_id = {a.claim_id: a for a in pf.adjudications}
    assert set(by_id) == {"CF0000000000000000A1", "CF0000000000000000A2", "CF0000000000000000A3", "CF0000000000000000B1", "CF0000000000000000D2"}
    a1 = by_id["CF0000000000000000A1"]
    assert (a1.total_charge, a1.paid_amount, a1.patient_responsibility) == (D("250.00"), D("160.00"), D("20.00"))
    assert a1.remittance_date == date(2026, 11, 19) and a1.payer_id == "BCX22" and a1.trace_number == "EFT0001"
    assert a1.adjudication_id == adjudication_id("BCX22", a1.claim_id, "PCN1001", "1", date(2026, 11, 19))
    assert [(x.group_code.value, x.reason_code, x.amount) for x in a1.claim_adjustments] == [("PR", "3", D("20.00"))]
    assert a1.remark_codes == ["MA01"]
    assert [(l.line_number, l.procedure_code, l.modifiers, l.charge, l.paid_amount, l.units_paid) for l in a1.service_lines] == [
        (1, "99214", ["25"], D("160.00"), D("130.00"), D("1.00")), (2, "36415", [], D("90.00"), D("50.00"), D("2.00"))]
    assert a1.service_lines[1].remark_codes == ["N130"]
    # BPR16 used when DTM*405 is absent
    assert by_id["CF0000000000000000B1"].remittance_date == date(2026, 11, 21)


def test_835_reversal_and_plb_are_reported():
    pf = remit()
    rev = next(a for a in pf.adjudications if a.claim_status_code == "22")
    assert (rev.total_charge, rev.paid_amount, rev.patient_responsibility) == (D("-110.00"), D("-75.50"), D("-20.00"))
    first = pf.remittances[0]
    assert [(p.reason_code, p.reference_id, p.amount) for p in first.provider_adjustments] == [("L6", "INT001", D("-15.00")), ("FB", "PCN0777", D("10.00"))]
    assert first.balanced  # 89.5 = (160 + 0 - 75.5) - (-15 + 10)


def test_835_failures_are_isolated_with_position_and_bytes():
    pf = remit()
    txn_err = [e for e in pf.errors if e.level == "transaction"]
    assert len(txn_err) == 1 and txn_err[0].control_number == "0003" and "BPR" in txn_err[0].reason
    assert txn_err[0].raw.startswith(b"ST*835*0003~") and txn_err[0].raw.rstrip().endswith(b"SE*6*0003~")
    assert txn_err[0].position is not None
    claim_err = [e for e in pf.errors if e.level == "claim"]
    assert len(claim_err) == 1 and "CF0000000000000000D1" in claim_err[0].reason and "CLP02" in claim_err[0].reason
    assert claim_err[0].raw.startswith(b"CLP*CF0000000000000000D1*9*")
    # the good claim of the same transaction set still flows, with its balancing findings
    codes = {(f.code, f.claim_id) for f in pf.findings}
    assert ("BAL-CLAIM", "CF0000000000000000D2") in codes
    assert any(f.code == "BAL-TXN" and f.control_number == "0004" for f in pf.findings)


def test_835_line_balancing_finding():
    data = (FIX / "remit_multi.835").read_bytes().replace(b"SVC*HC:99212*100*88**1~", b"SVC*HC:99212*100*80**1~")
    pf = remit(data)
    assert any(f.code == "BAL-LINE" and f.claim_id == "CF0000000000000000B1" for f in pf.findings)


@pytest.mark.parametrize("name,table", [
    ("pipe-gt-newline", {"*": "|", ":": ">", "^": "{", "~": "\n"}),
    ("crlf-after-tilde", {"~": "~\r\n"}),
    ("bang-backslash-crlf-terminator", {"*": "!", ":": "\\", "~": "\r\n"}),
    ("caret-component", {":": "^", "^": "}"}),
])
def test_835_any_declared_delimiters(name, table):
    base = remit()
    text = (FIX / "remit_multi.835").read_text().replace("\n", "")
    converted = "".join(table.get(ch, ch) for ch in text)
    pf = remit(converted.encode("latin-1"))
    key = lambda p: [(a.claim_id, a.paid_amount, [(l.procedure_code, l.modifiers, l.paid_amount) for l in a.service_lines]) for a in p.adjudications]
    assert key(pf) == key(base), name
    assert [e.level for e in pf.errors] == [e.level for e in base.errors]


def test_unparseable_file_yields_file_error_with_bytes():
    pf = parse_bytes(b"hello, not x12", "x.txt")
    assert pf.kind == "invalid" and pf.errors[0].level == "file" and pf.errors[0].raw == b"hello, not x12"
    trunc = (FIX / "remit_multi.835").read_bytes()[:1500]
    pf = parse_bytes(trunc, "t.835")
    assert any(e.level == "transaction" and "no SE" in e.reason for e in pf.errors)
    assert pf.adjudications  # complete transaction sets before the cut still flow


def test_277ca_claim_statuses_to_events():
    pf = parse_bytes((FIX / "claim_ack.277").read_bytes(), "claim_ack.277", AT)
    assert pf.errors == []
    got = {s.claim_id: s for s in pf.statuses}
    assert got["CF0000000000000000A1"].accepted and got["CF0000000000000000A1"].event.state == ClaimState.ACKNOWLEDGED
    rej = got["CF0000000000000000A2"]
    assert rej.accepted is False and rej.reason == "STC A3:21; A3:187" and rej.event.state == ClaimState.REJECTED
    assert got["CF0000000000000000A3"].reason == "STC A7:562:85"
    # the line-level STC after SVC does not change the claim verdict
    assert got["CF0000000000000000B1"].accepted and got["CF0000000000000000B1"].payer_claim_control_number == "PCN2001"
    assert [(o.level, o.category_code) for o in pf.other_statuses] == [("21", "A1")]
    # event ids are deterministic: a replay gives the same ids
    again = parse_bytes((FIX / "claim_ack.277").read_bytes(), "claim_ack.277", AT)
    assert [e.event_id for e in again.status_events] == [e.event_id for e in pf.status_events]


def test_999_per_transaction_set_and_mapping_to_claims(tmp_path):
    pf = parse_bytes((FIX / "ack_partial.999").read_bytes(), "ack_partial.999", AT)
    assert pf.errors == []
    (group,) = pf.acks
    assert group.code == "P" and group.group_control_number == "4"
    assert [(t.control_number, t.accepted) for t in group.transaction_sets] == [("0001", True), ("0002", False)]
    ledger = SubmissionLedger(tmp_path)
    ledger.record([SubmissionRecord("CFA", "000000009", "4", "0001", "f.837", "X"), SubmissionRecord("CFB", "000000009", "4", "0002", "f.837", "X")])
    events = claim_events_from_999(group, ledger.claims_for_set, AT)
    assert [(e.claim_id, e.state) for e in events] == [("CFA", ClaimState.ACKNOWLEDGED), ("CFB", ClaimState.REJECTED)]
    assert events[1].reason.startswith("999 IK5 R:5")
    via_import = parse_bytes((FIX / "ack_partial.999").read_bytes(), "a.999", AT, ledger.claims_for_set)
    assert len(via_import.status_events) == 2


def test_import_path_counts_per_kind():
    summary = import_path(FIX, AT)
    assert summary.counts == {"835": 1, "277": 1, "999": 1}
    assert len(summary.adjudications) == 5 and len(summary.statuses) == 4 and len(summary.acks) == 1
    assert "files=3" in summary.describe()


def test_no_phi_in_error_and_finding_messages():
    pf = remit()
    text = " ".join([e.reason for e in pf.errors] + [f.message for f in pf.findings])
    for phi in ("SYNTH", "PATIENT", "M00000000"):
        assert phi not in text
