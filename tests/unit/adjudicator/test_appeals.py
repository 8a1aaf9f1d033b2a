"""Appeal work items: deadlines per payer, priority ordering, learning from outcomes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from claimflow.models import AppealAction, AppealActionKind, AppealLevel, ClaimState, Disposition, WorkItemKind
from services.adjudicator.appeals import (
    OverturnModel,
    Urgency,
    appeal_deadline,
    deadline_bucket,
    dollars_at_risk,
    priority_score,
    rescore,
    work_queue,
)
from services.adjudicator.actions import apply_action
from services.adjudicator.logic import Policy, appeal_backlog, apply_appeal_outcome, post
from services.adjudicator.models import AppealOutcome, AppealOutcomeKind
from services.adjudicator.reference import load_payer_book
from tests.unit.adjudicator.adj_helpers import NOW, REMIT, D, adj_code, line, make_adj


def denial(cid="C1", carc="50", amount="100.00", payer="MCR01", remit=REMIT, pccn="PCN1"):
    return make_adj(cid=cid, status="4", charge=amount, payer=payer, remit=remit, pccn=pccn,
                    lines=[line(1, "99214", amount, "0.00", [adj_code(f"CO-{carc}", amount)])])


def outcome(wi, kind, n=1, decided=date(2026, 5, 1), carc="50"):
    return AppealOutcome(outcome_id=f"OUT{n}", work_item_id=wi.work_item_id, claim_id=wi.claim_id, payer_id=wi.payer_id,
                         reason_code=carc, appeal_level=wi.appeal_level, outcome=kind,
                         recovered_amount=wi.denied_amount if kind == AppealOutcomeKind.OVERTURNED else D(0),
                         decided_on=decided, received_at=NOW)


def filed(entry, wi, n=1, on=None):
    """The entry after a biller filed the appeal for ``wi``."""
    act = AppealAction(action_id=f"ACT-F{n}-{wi.work_item_id}", work_item_id=wi.work_item_id, claim_id=wi.claim_id,
                       action=AppealActionKind.FILED, actor="biller1", actor_role="biller", occurred_at=NOW,
                       filed_on=on or NOW.date(), appeal_level=wi.appeal_level)
    res = apply_action(entry, act, NOW)
    assert res.rejected is None, res.rejected
    return res.entry


@pytest.mark.parametrize("payer,level,days", [
    ("MCR01", AppealLevel.REDETERMINATION, 120), ("MCD17", AppealLevel.PAYER_INTERNAL, 90),
    ("BCX22", AppealLevel.PAYER_INTERNAL, 180), ("AET45", AppealLevel.PAYER_INTERNAL, 180),
    ("ZZZ99", AppealLevel.PAYER_INTERNAL, 90),
])
def test_deadline_per_payer_from_remittance_date(payer, level, days):
    [wi] = post(None, denial(payer=payer), NOW).work_items
    assert wi.appeal_level == level and wi.deadline == REMIT + timedelta(days=days) and wi.remittance_date == REMIT


def test_medicare_ladder():
    book = load_payer_book()
    levels = [appeal_deadline(book, "MCR01", REMIT, i) for i in range(6)]
    assert [l.level for l in levels[:5]] == [AppealLevel.REDETERMINATION, AppealLevel.RECONSIDERATION, AppealLevel.ALJ_HEARING,
                                           AppealLevel.APPEALS_COUNCIL, AppealLevel.JUDICIAL_REVIEW]
    assert levels[1].due == REMIT + timedelta(days=180) and levels[5] is None


def test_priority_is_expected_recoverable_dollars_weighted_by_urgency():
    [wi] = post(None, denial(amount="1000.00"), NOW).work_items
    p = wi.overturn_likelihood
    days = (wi.deadline - NOW.date()).days
    weight = 1 + max(0.0, 1 - days / 120)
    assert wi.priority_score == pytest.approx(1000 * p * weight, rel=1e-6)
    assert 0 < p < 1


def test_priority_ordering_bigger_dollars_and_nearer_deadline_first():
    small = post(None, denial("C1", amount="100.00"), NOW).work_items[0]
    big = post(None, denial("C2", amount="900.00"), NOW).work_items[0]
    # same dollars, older remittance -> nearer deadline
    near = post(None, denial("C3", amount="300.00", remit=REMIT - timedelta(days=100)), NOW).work_items[0]
    far = post(None, denial("C4", amount="300.00"), NOW).work_items[0]
    assert big.priority_score > far.priority_score > small.priority_score
    assert near.priority_score > far.priority_score
    assert [w.claim_id for w in work_queue([small, far, near, big])] == ["C2", "C3", "C4", "C1"]
    overdue = post(None, denial("C5", amount="5000.00", remit=REMIT - timedelta(days=200)), NOW).work_items[0]
    assert overdue.priority_score == 0  # deadline passed: nothing recoverable by appeal


def test_urgency_weight_shape():
    u = Urgency(horizon_days=120, boost=1.0)
    assert u.weight(200) == 1.0 and u.weight(0) == 2.0 and u.weight(60) == 1.5 and u.weight(-1) == 0.0
    assert priority_score(D(100), 0.5, None, NOW.date(), u) == 50.0


def test_learning_from_outcomes_raises_and_lowers_likelihood():
    model = OverturnModel()
    base = model.likelihood("BCX22", "50")
    other_payer = model.likelihood("AET45", "50")
    for i in range(10):
        assert model.observe("BCX22", "50", True, outcome_id=f"o{i}")
    up = model.likelihood("BCX22", "50")
    assert up > base and model.likelihood("AET45", "50") == other_payer
    assert not model.observe("BCX22", "50", True, outcome_id="o3")  # replayed outcome: counted once
    assert model.likelihood("BCX22", "50") == up
    for i in range(30):
        model.observe("BCX22", "50", False, outcome_id=f"u{i}")
    assert model.likelihood("BCX22", "50") < base
    # serializable state, exact round trip
    again = OverturnModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.likelihood("BCX22", "50") == model.likelihood("BCX22", "50")


def test_priors_are_configurable_and_payer_specific():
    model = OverturnModel()
    a, b = load_payer_book().prior("MCR01", "50")
    assert model.likelihood("MCR01", "50") == pytest.approx(a / (a + b))
    assert model.likelihood("MCR01", "29") < model.likelihood("MCR01", "50")  # timely filing rarely overturned


def test_outcomes_feed_back_into_new_work_items():
    policy = Policy()
    first = post(None, denial("C1", payer="AET45"), NOW, policy)
    [wi] = first.work_items
    entry = filed(first.entry, wi)
    assert entry["state"] == ClaimState.APPEALED.value
    res = apply_appeal_outcome(entry, outcome(wi, AppealOutcomeKind.OVERTURNED), NOW, policy)
    assert res.model_changed and res.status_events[-1].state == ClaimState.CLOSED
    assert res.observations == [("AET45", "50", True, "OUT1")]
    assert res.entry["open_items"] == [] and res.metrics.closed_work_items == 1
    assert apply_appeal_outcome(res.entry, outcome(wi, AppealOutcomeKind.OVERTURNED), NOW, policy).duplicate
    for i in range(2, 12):
        other = post(None, denial(f"C1{i}", payer="AET45", pccn=f"P{i}"), NOW, policy)
        apply_appeal_outcome(filed(other.entry, other.work_items[0]), outcome(other.work_items[0], AppealOutcomeKind.OVERTURNED, n=i), NOW, policy)
    [later] = post(None, denial("C2", payer="AET45"), NOW, policy).work_items
    assert later.overturn_likelihood > wi.overturn_likelihood
    assert later.priority_score > wi.priority_score
    assert rescore(wi, NOW.date(), policy.model).priority_score == pytest.approx(later.priority_score)


def test_upheld_escalates_to_next_level_or_closes():
    policy = Policy()
    p = post(None, denial("C1", payer="MCR01"), NOW, policy)
    [wi] = p.work_items
    decided = date(2026, 5, 1)
    res = apply_appeal_outcome(filed(p.entry, wi), outcome(wi, AppealOutcomeKind.UPHELD, decided=decided), NOW, policy)
    [nxt] = res.work_items
    assert nxt.appeal_level == AppealLevel.RECONSIDERATION and nxt.deadline == decided + timedelta(days=180)
    assert nxt.work_item_id != wi.work_item_id and nxt.rule_id == wi.rule_id
    assert res.status_events[-1].state == ClaimState.DENIED and res.entry["open_items"][0]["level_index"] == 1
    assert nxt.overturn_likelihood < wi.overturn_likelihood  # the upheld outcome was learned
    # an outcome for the new level before it was filed is refused (dead-lettered by the shell)
    early = apply_appeal_outcome(res.entry, outcome(nxt, AppealOutcomeKind.UPHELD, n=2), NOW, policy)
    assert early.pending and early.observations == []  # waits for its filing (see test_worklist)
    # AET45 has a single level: upheld leaves a write-off for a supervisor to approve
    q = post(None, denial("C2", payer="AET45"), NOW, policy)
    r = apply_appeal_outcome(filed(q.entry, q.work_items[0]), outcome(q.work_items[0], AppealOutcomeKind.UPHELD, n=7), NOW, policy)
    [wo] = r.work_items
    assert wo.kind == WorkItemKind.WRITE_OFF_APPROVAL and wo.recoverable_amount == 0
    assert r.status_events[-1].state == ClaimState.DENIED


def test_withdrawn_does_not_teach_the_model():
    policy = Policy()
    p = post(None, denial("C1"), NOW, policy)
    before = policy.model.likelihood("MCR01", "50")
    r = apply_appeal_outcome(filed(p.entry, p.work_items[0]), outcome(p.work_items[0], AppealOutcomeKind.WITHDRAWN), NOW, policy)
    assert not r.model_changed and policy.model.likelihood("MCR01", "50") == before
    assert r.status_events[-1].state == ClaimState.CLOSED


def test_non_appealable_denials_still_record_a_disposition():
    adj = denial(carc="18")
    p = post(None, adj, NOW)
    assert [(w.kind, w.deadline, w.appeal_level) for w in p.work_items] == [(WorkItemKind.VERIFY_DUPLICATE, None, None)]
    ev = p.status_events[-1]
    assert ev.disposition == Disposition.VERIFY_DUPLICATE and ev.rule_id == "DEN-014"


def test_dollars_at_risk_and_backlog_buckets():
    assert [deadline_bucket(d) for d in (None, -3, 0, 7, 8, 30, 45, 90, 200)] == \
        ["none", "overdue", "0-7", "0-7", "8-30", "8-30", "31-60", "61-120", "121+"]
    a = post(None, denial("C1", amount="100.00", remit=NOW.date() - timedelta(days=115)), NOW)
    b = post(None, denial("C2", amount="250.00"), NOW)
    risk = dollars_at_risk(a.work_items + b.work_items, NOW.date())
    assert risk["0-7"] == D("100.00") and risk["61-120"] == D("250.00") and sum(risk.values()) == D("350.00")
    pending = post(None, denial("C3"), NOW, Policy(require_claim=True))  # post() never waits
    backlog = appeal_backlog([a.entry, b.entry, pending.entry], NOW.date())
    assert backlog["open_items"] == 3 and backlog["dollars_at_risk"]["0-7"] == D("100.00")
    assert backlog["pending_remittances"] == 0
    assert a.metrics.at_risk == {"0-7": D("100.00")}
