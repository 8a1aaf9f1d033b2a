"""One test (at least) per row of the DESIGN.md denial guardrail table."""

from __future__ import annotations

import pytest

from claimflow.models import ClaimState, Disposition, EditFamily, EditFinding, Severity, WorkItemKind
from services.adjudicator.logic import Policy, apply_adjudication, apply_claim, disposition_for, post
from services.adjudicator.reference import load_code_lists
from services.adjudicator.rules import RULE_TABLE_DOC, RULES, ClaimContext, decisions_for
from tests.unit.adjudicator.adj_helpers import NOW, adj_code, line, make_adj, make_claim, ptp_finding

A = Disposition
K = WorkItemKind


def denied(*codes_amounts, remarks=(), line_remarks=(), status="4", charge="100.00"):
    """A fully denied single-line claim with the given CAS codes at line level."""
    adjs = [adj_code(c, a) for c, a in codes_amounts]
    return make_adj(status=status, charge=charge, paid="0.00", remarks=remarks,
                    lines=[line(1, "99213", charge, "0.00", adjs, line_remarks)])


def test_rule_table_ids_unique_and_documented():
    ids = [r.rule_id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r in RULE_TABLE_DOC for r in ids)
    codes = load_code_lists()
    for r in RULES:
        for carc in r.carcs or ():
            assert codes.carc_info(carc) is not None, f"{r.rule_id} uses CARC {carc} missing from carc.yaml"


@pytest.mark.parametrize("remark,where", [("MA130", "claim"), ("N211", "line")])
def test_den001_co16_unprocessable_correct_and_resubmit(remark, where):
    adj = denied(("CO-16", "100.00"), remarks=[remark] if where == "claim" else [], line_remarks=[remark] if where == "line" else [])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-001", A.CORRECT_AND_RESUBMIT, False)
    p = post(None, adj, NOW)
    # never appealed: a corrected-claim work item without an appeal deadline
    assert [(w.kind, w.deadline) for w in p.work_items] == [(K.CORRECTED_CLAIM, None)]
    assert [c.frequency_code for c in p.corrections] == ["1"]  # a new claim, not a replacement
    assert p.status_events[-1].rule_id == "DEN-001"


def test_co16_without_unprocessable_remark_uses_carc_default():
    d = disposition_for(denied(("CO-16", "100.00")))
    assert d.rule_id == "DEN-098" and d.disposition == A.CORRECT_AND_RESUBMIT


def test_den002_co45_alone_no_action_and_paid():
    adj = make_adj(charge="100.00", paid="72.00", lines=[line(1, "99213", "100.00", "72.00", [adj_code("CO-45", "28.00")])])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-002", A.NO_ACTION, False)
    p = post(None, adj, NOW)
    assert p.status_events[-1].state == ClaimState.PAID
    assert not p.work_items and not p.corrections and not p.patient_bills


@pytest.mark.parametrize("carc,field", [("1", "deductible"), ("2", "coinsurance"), ("3", "copay")])
def test_den003_patient_share_bills_patient(carc, field):
    adj = make_adj(charge="100.00", paid="50.00", pr="20.00",
                   lines=[line(1, "99213", "100.00", "50.00", [adj_code("CO-45", "30.00"), adj_code(f"PR-{carc}", "20.00")])])
    ds = decisions_for(adj)
    pr = [d for d in ds if d.rule_id == "DEN-003"]
    assert pr and pr[0].disposition == A.BILL_PATIENT and not pr[0].appealable
    p = post(None, adj, NOW)
    assert p.status_events[-1].state == ClaimState.PAID
    [bill] = p.patient_bills
    assert bill.amount == getattr(bill, field) == 20
    assert not p.work_items


def test_den004_co97_mi1_corrected_claim_with_modifier():
    claim = make_claim(lines=[("11102", "120.00"), ("99213", "110.00")], findings=[ptp_finding("1", [2])])
    adj = make_adj(cid=claim.claim_id, charge="230.00", paid="80.00",
                   lines=[line(1, "11102", "120.00", "80.00", [adj_code("CO-45", "40.00")]),
                          line(2, "99213", "110.00", "0.00", [adj_code("CO-97", "110.00")])])
    d = disposition_for(adj, claim)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-004", A.CORRECTED_CLAIM_WITH_MODIFIER, False)
    p = apply_claim(None, claim, NOW)
    p = apply_adjudication(p.entry, adj, NOW)
    assert p.status_events[-1].state == ClaimState.PARTIALLY_PAID
    [corr] = p.corrections
    assert corr.frequency_code == "7" and corr.line_numbers == [2] and corr.suggested_modifiers == ["59", "XS"]
    [wi] = p.work_items
    assert wi.kind == K.CORRECTED_CLAIM and wi.deadline is None and wi.recoverable_amount == 110
    assert {(e.label, e.value) for e in wi.evidence} >= {("ptp_modifier_indicator", "1"), ("suggested_modifiers", "59 XS"), ("carc", "CO-97")}


@pytest.mark.parametrize("carc", ["97", "236"])
def test_den005_bundled_mi0_never_appealed(carc):
    claim = make_claim(findings=[ptp_finding("0", [1])])
    adj = denied((f"CO-{carc}", "100.00"))
    d = disposition_for(adj, claim)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-005", A.WRITE_OFF, False)
    p = apply_adjudication(apply_claim(None, claim.model_copy(update={"claim_id": adj.claim_id}), NOW).entry, adj, NOW)
    assert p.corrections == []
    [wi] = p.work_items  # a write-off a person approves, never an appeal
    assert wi.kind == K.WRITE_OFF_APPROVAL and wi.recoverable_amount == 0 and wi.priority_score == 0 and wi.deadline is None


def test_mi0_wins_over_mi1_on_the_same_line():
    claim = make_claim(findings=[ptp_finding("1", [1]), ptp_finding("0", [1])])
    assert disposition_for(denied(("CO-97", "100.00")), claim).rule_id == "DEN-005"


@pytest.mark.parametrize("findings", [[], [ptp_finding("9", [1])]])
def test_den006_bundled_unknown_mi_manual_review_not_appeal(findings):
    d = disposition_for(denied(("CO-97", "100.00")), make_claim(findings=findings))
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-006", A.MANUAL_REVIEW, False)


@pytest.mark.parametrize("retro,rule,disp,appealable", [
    (True, "DEN-007", A.APPEAL, True), (False, "DEN-008", A.WRITE_OFF, False), (None, "DEN-009", A.MANUAL_REVIEW, True),
])
def test_den007_9_no_prior_auth(retro, rule, disp, appealable):
    d = disposition_for(denied(("CO-197", "100.00")), ClaimContext(retro_authorization=retro))
    assert (d.rule_id, d.disposition, d.appealable) == (rule, disp, appealable)


def test_retro_auth_read_from_claim_findings():
    f = EditFinding(rule_id="AUTH-1", family=EditFamily.OTHER, severity=Severity.WARNING, message="auth",
                    source_row={"retro_authorization": "yes"})
    assert disposition_for(denied(("CO-197", "100.00")), make_claim(findings=[f])).rule_id == "DEN-007"


@pytest.mark.parametrize("carc", ["50", "151"])
def test_den010_necessity_appeal_with_records(carc):
    adj = denied((f"CO-{carc}", "100.00"), line_remarks=["N115"])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-010", A.APPEAL, True)
    p = post(None, adj, NOW)
    [wi] = p.work_items
    assert wi.rule_id == "DEN-010" and wi.disposition == A.APPEAL and wi.denied_amount == 100
    assert wi.reason_codes == [f"CO-{carc}"] and wi.remark_codes == ["N115"]


def test_den010_units_mai3_appealable_den011_mai2_write_off():
    mai3 = ClaimContext(mue_mai={1: "3"})
    mai2 = ClaimContext(mue_mai={1: "2"})
    assert disposition_for(denied(("CO-151", "100.00")), mai3).rule_id == "DEN-010"
    d = disposition_for(denied(("CO-151", "100.00")), mai2)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-011", A.WRITE_OFF, False)


@pytest.mark.parametrize("proof,rule,disp", [(True, "DEN-012", A.APPEAL), (False, "DEN-013", A.WRITE_OFF), (None, "DEN-013", A.WRITE_OFF)])
def test_den012_13_timely_filing(proof, rule, disp):
    d = disposition_for(denied(("CO-29", "100.00")), ClaimContext(timely_filing_proof=proof))
    assert (d.rule_id, d.disposition) == (rule, disp)


def test_den014_duplicate_verify():
    d = disposition_for(denied(("CO-18", "100.00")))
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-014", A.VERIFY_DUPLICATE, False)


@pytest.mark.parametrize("carc", ["27", "109"])
def test_den015_rebill_other_payer(carc):
    d = disposition_for(denied((f"CO-{carc}", "100.00")))
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-015", A.REBILL_OTHER_PAYER, False)


def test_den016_oa23_informational():
    adj = make_adj(status="2", charge="100.00", paid="10.00", pr="0.00",
                   lines=[line(1, "99213", "100.00", "10.00", [adj_code("OA-23", "90.00")])])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition) == ("DEN-016", A.INFORMATIONAL)
    assert post(None, adj, NOW).status_events[-1].state == ClaimState.PAID


def test_den017_other_patient_responsibility():
    d = disposition_for(denied(("PR-204", "100.00"), status="1"))
    assert (d.rule_id, d.disposition) == ("DEN-017", A.BILL_PATIENT)


def test_den020_reversal_rule():
    adj = make_adj(status="22", charge="-100.00", paid="-72.00", lines=[line(1, "99213", "-100.00", "-72.00", [adj_code("CO-45", "-28.00")])])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition, d.appealable) == ("DEN-020", A.INFORMATIONAL, False)


def test_den021_not_our_claim_and_den022_predetermination():
    assert disposition_for(make_adj(status="23", charge="100.00", claim_adjs=[adj_code("OA-23", "100.00")])).rule_id == "DEN-021"
    adj = make_adj(status="25", charge="100.00", claim_adjs=[adj_code("CO-45", "100.00")])
    assert disposition_for(adj).rule_id == "DEN-022"
    p = post(None, adj, NOW)
    assert p.status_events == [] and p.entry["totals"]["paid"] == "0.00" and p.entry["totals"]["charged"] == "0.00"


def test_den097_denied_without_reason_goes_to_review():
    adj = make_adj(status="4", charge="100.00", claim_adjs=[])
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition) == ("DEN-097", A.MANUAL_REVIEW)
    assert [w.rule_id for w in post(None, adj, NOW).work_items] == ["DEN-097"]


def test_den099_unknown_carc_safe_default_and_reported():
    adj = denied(("CO-Z9", "100.00"))
    d = disposition_for(adj)
    assert (d.rule_id, d.disposition) == ("DEN-099", A.MANUAL_REVIEW)
    assert d.unknown_codes == ("CO-Z9",) and d.family == "unknown"
    p = post(None, adj, NOW)
    assert p.metrics.unknown_codes == 1
    assert [w.disposition for w in p.work_items] == [A.MANUAL_REVIEW]


def test_coding_family_rule_for_a_known_code():
    d = disposition_for(denied(("CO-4", "100.00")))
    assert (d.rule_id, d.disposition) == ("DEN-033", A.CORRECT_AND_RESUBMIT)


def test_den098_known_code_default():
    d = disposition_for(denied(("CO-24", "100.00")))  # starter family coordination_of_benefits
    assert (d.rule_id, d.disposition) == ("DEN-032", A.REBILL_OTHER_PAYER)
    d = disposition_for(denied(("CO-16", "100.00")))  # no MA130/N211: the code's default
    assert (d.rule_id, d.disposition) == ("DEN-098", A.CORRECT_AND_RESUBMIT)


def test_every_decision_records_its_rule_on_the_status_event():
    adj = make_adj(charge="230.00", paid="0.00", status="4",
                   lines=[line(1, "11102", "120.00", "0.00", [adj_code("CO-50", "120.00")]),
                          line(2, "99213", "110.00", "0.00", [adj_code("CO-18", "110.00")])])
    ev = post(None, adj, NOW).status_events[-1]
    assert "DEN-010" in ev.reason and "DEN-014" in ev.reason
    assert ev.rule_id == "DEN-010" and ev.disposition == A.APPEAL  # most dollars among the actionable ones


def test_metric_hooks_bounded_labels():
    adj = denied(("CO-50", "100.00"))
    p = post(None, adj, NOW)
    fams = load_code_lists().families
    assert all(group in {"CO", "PR", "OA", "PI", "CR", "CLP02"} and fam in fams for group, fam, _ in p.metrics.denials)
    assert p.metrics.adjudications == ["denied"]
    assert sum(p.metrics.at_risk.values()) == 100
