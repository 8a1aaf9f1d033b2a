"""Posting compares each paid line's allowed amount with the claim's expected allowed:
allowed from AMT*B6 or paid + patient responsibility, tolerance edges, downcodes,
overpayments (refund liability), denied lines left to the denial worklist, no expectation
never read as $0, and the ledger path (apply_claim + apply_adjudication) end to end."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claimflow.models import Adjudication, ExpectedAllowed, ServicePayment, UnderpaymentKind
from services.adjudicator.logic import Policy, apply_adjudication, apply_claim, underpayment_backlog
from services.adjudicator.underpayments import allowed_of, compare
from tests.unit.adjudicator.adj_helpers import NOW, REMIT, D, adj_code, make_claim

POLICY = Policy()


def expected(amount: str | None, tol: str = "1.00") -> ExpectedAllowed:
    return ExpectedAllowed(amount=D(amount) if amount else None, basis="medicare_pfs" if amount else "none", payer_id="MCR01",
                           contract_term="MCR01 100% of Medicare", dataset="PFS", dataset_version="RVU25D",
                           inputs={"row": "99213", "work_rvu": "1.30"}, tolerance_amount=D(tol),
                           not_computed_reason=None if amount else "no contract")


def claim_with(*exps, codes=("99213", "99214", "20610")):
    c = make_claim(lines=[(codes[i], "200.00") for i in range(len(exps))])
    return c.model_copy(update={"lines": [l.model_copy(update={"expected_allowed": e}) for l, e in zip(c.lines, exps)]})


def paid_line(n: int, code: str, allowed: str, pr: str = "0.00", b6: bool = False, original: str | None = None,
              extra: list | None = None, charge: str = "200.00") -> ServicePayment:
    a, p = D(allowed), D(pr)
    adjs = [adj_code("CO-45", D(charge) - a)] if D(charge) > a else []
    if p > 0:
        adjs.append(adj_code("PR-2", p))
    adjs += extra or []
    paid = a - p - sum((x.amount for x in (extra or [])), Decimal("0.00"))
    return ServicePayment(line_number=n, procedure_code=code, charge=D(charge), paid_amount=paid, adjustments=adjs,
                          allowed_amount=a if b6 else None, amounts={"B6": a} if b6 else {}, original_procedure_code=original)


def remit(claim, lines, status="1", payer="MCR01") -> Adjudication:
    from claimflow.ids import adjudication_id
    return Adjudication(adjudication_id=adjudication_id(payer, claim.claim_id, "PCCN1", status, REMIT), claim_id=claim.claim_id,
                        payer_id=payer, payer_claim_control_number="PCCN1", claim_status_code=status,
                        total_charge=sum((l.charge for l in lines), Decimal("0.00")), paid_amount=sum((l.paid_amount for l in lines), Decimal("0.00")),
                        patient_responsibility=sum((a.amount for l in lines for a in l.adjustments if a.group_code.value == "PR"), Decimal("0.00")),
                        remittance_date=REMIT, service_lines=lines, received_at=NOW, source="test")


def summary(claim):
    from services.adjudicator.logic import _claim_summary
    return _claim_summary(claim)


def test_allowed_from_b6_else_paid_plus_patient_responsibility():
    assert allowed_of(paid_line(1, "99213", "90.00", pr="18.00", b6=True)) == (D("90.00"), "AMT*B6")
    assert allowed_of(paid_line(1, "99213", "90.00", pr="18.00")) == (D("90.00"), "paid+patient-responsibility")
    seq = paid_line(1, "99213", "90.00", extra=[adj_code("CO-253", "1.44")])
    assert allowed_of(seq) == (D("90.00"), "paid+patient-responsibility")  # sequestration reduces payment, not allowed


@pytest.mark.parametrize("allowed,flagged", [("99.00", False), ("98.99", True), ("101.00", False), ("101.01", True), ("100.00", False)])
def test_tolerance_edges(allowed, flagged):
    c = claim_with(expected("100.00", tol="1.00"))
    res = compare(remit(c, [paid_line(1, "99213", allowed)]), summary(c), NOW)
    assert len(res.compared) == 1 and bool(res.items) is flagged


def test_underpayment_item_carries_the_evidence():
    c = claim_with(expected("100.00"), expected("150.00"))
    res = compare(remit(c, [paid_line(1, "99213", "80.00", pr="16.00", b6=True), paid_line(2, "99214", "150.00")]), summary(c), NOW)
    (item,) = res.items
    assert item.kind is UnderpaymentKind.UNDERPAID and item.line_number == 1 and not item.refund_liability
    assert (item.expected_amount, item.allowed_amount, item.recoverable_amount, item.paid_amount) == (D("100.00"), D("80.00"), D("20.00"), D("64.00"))
    assert item.allowed_source == "AMT*B6" and item.contract_term == "MCR01 100% of Medicare" and item.dataset_version == "RVU25D"
    assert item.evidence["row"] == "99213" and item.evidence["work_rvu"] == "1.30"
    again = compare(remit(c, [paid_line(1, "99213", "80.00", pr="16.00", b6=True), paid_line(2, "99214", "150.00")]), summary(c), NOW)
    assert again.items[0].work_item_id == item.work_item_id  # deterministic


def test_downcode_is_named():
    c = claim_with(expected("150.00"), codes=("99214",))
    line = paid_line(1, "99213", "100.00", original="99214")
    (item,) = compare(remit(c, [line]), summary(c), NOW).items
    assert item.kind is UnderpaymentKind.DOWNCODED and item.downcoded and item.procedure_code == "99214"
    assert item.adjudicated_procedure_code == "99213" and "paid as 99213" in item.explanation


def test_downcode_matches_by_billed_code_without_a_line_number():
    c = claim_with(expected("100.00"), expected("150.00"))
    line = paid_line(2, "99213", "100.00", original="99214").model_copy(update={"line_number": None})
    (item,) = compare(remit(c, [line]), summary(c), NOW).items
    assert item.line_number == 2 and item.kind is UnderpaymentKind.DOWNCODED


def test_overpayment_is_a_refund_liability():
    c = claim_with(expected("100.00"))
    (item,) = compare(remit(c, [paid_line(1, "99213", "130.00")]), summary(c), NOW).items
    assert item.kind is UnderpaymentKind.OVERPAID and item.refund_liability and item.recoverable_amount == D("30.00")


def test_denied_lines_and_missing_expectations_are_not_compared():
    c = claim_with(expected("100.00"), expected(None))
    denied = paid_line(1, "99213", "0.00", extra=[]).model_copy(update={"adjustments": [adj_code("CO-50", "200.00")], "paid_amount": D("0")})
    res = compare(remit(c, [denied, paid_line(2, "99214", "10.00")]), summary(c), NOW)
    assert res.items == [] and res.compared == []
    assert res.skipped == {"denied or bundled line (denial worklist)": 1, "no expectation": 1}


@pytest.mark.parametrize("status,payer", [("4", "MCR01"), ("22", "MCR01"), ("1", "BCX22")])
def test_only_own_payer_paid_remits_are_compared(status, payer):
    c = claim_with(expected("100.00"))
    assert compare(remit(c, [paid_line(1, "99213", "50.00")], status=status, payer=payer), summary(c), NOW).items == []


def test_ledger_posts_once_and_tracks_open_dollars():
    c = claim_with(expected("100.00"), expected("150.00"))
    t = apply_claim(None, c, NOW, POLICY)
    adj = remit(c, [paid_line(1, "99213", "80.00"), paid_line(2, "99214", "140.00")])
    p = apply_adjudication(t.entry, adj, NOW, POLICY)
    assert sorted(u.recoverable_amount for u in p.underpayments) == [D("10.00"), D("20.00")]
    assert underpayment_backlog([p.entry]) == {"MCR01": {"underpaid": D("30.00")}}
    dup = apply_adjudication(p.entry, adj, NOW, POLICY)
    assert dup.duplicate and dup.underpayments == []
    assert sum(c.expected for r in p.comparisons for c in r.compared) == D("250.00")


def test_a_reversal_closes_the_items_it_reverses():
    from services.payer_sim.logic import reversal_of
    c = claim_with(expected("100.00"))
    t = apply_claim(None, c, NOW, POLICY)
    adj = remit(c, [paid_line(1, "99213", "80.00")])
    p = apply_adjudication(t.entry, adj, NOW, POLICY)
    assert underpayment_backlog([p.entry]) == {"MCR01": {"underpaid": D("20.00")}}
    r = apply_adjudication(p.entry, reversal_of(adj), NOW, POLICY)
    assert r.underpayments == [] and underpayment_backlog([r.entry]) == {}


def test_people_assign_resolve_and_write_off_underpayments_from_the_worklist():
    from claimflow.models import AppealAction
    from services.adjudicator.actions import apply_action

    c = claim_with(expected("100.00"), expected("900.00"))
    t = apply_claim(None, c, NOW, POLICY)
    p = apply_adjudication(t.entry, remit(c, [paid_line(1, "99213", "80.00"), paid_line(2, "99214", "200.00")]), NOW, POLICY)
    small, big = sorted(p.underpayments, key=lambda u: u.recoverable_amount)

    def act(kind, item, aid, **kw):
        return AppealAction(action_id=aid, work_item_id=item.work_item_id, claim_id=c.claim_id, action=kind, actor="bea",
                            actor_role=kw.pop("role", "biller"), occurred_at=NOW, **kw)

    a = apply_action(p.entry, act("assigned", small, "A1", assignee="bea"), NOW, POLICY)
    assert a.rejected is None and [u.get("assignee") for u in a.entry["open_underpayments"]].count("bea") == 1
    assert "assignee" not in p.entry["open_underpayments"][0]  # the stored entry was not mutated
    r = apply_action(a.entry, act("resolved", small, "A2", reason="payer reprocessed"), NOW, POLICY)
    assert underpayment_backlog([r.entry]) == {"MCR01": {"underpaid": D("700.00")}} and not r.status_events
    refused = apply_action(r.entry, act("written_off", big, "A3", reason="not worth it"), NOW, POLICY)
    assert "supervisor" in refused.rejected  # 700.00 is above the 500.00 limit
    assert apply_action(r.entry, act("filed", big, "A4", filed_on=NOW.date()), NOW, POLICY).rejected
    ok = apply_action(r.entry, act("written_off", big, "A5", reason="not worth it", approved_by="sam", approver_role="supervisor",
                                   role="supervisor"), NOW, POLICY)
    assert ok.rejected is None and underpayment_backlog([ok.entry]) == {}
