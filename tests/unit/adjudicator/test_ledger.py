"""Claim ledger: lifecycle state machine, 835 posting, balancing, reversals, idempotency,
out-of-order adjudications."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from claimflow.ids import status_event_id
from claimflow.models import ClaimState, ClaimStatusChanged, HeldClaim
from services.adjudicator.logic import (
    Policy,
    apply_adjudication,
    apply_claim,
    apply_held,
    apply_status,
    balance_findings,
    expire_pending,
    post,
    totals,
)
from services.payer_sim.logic import reversal_of
from tests.unit.adjudicator.adj_helpers import NOW, D, adj_code, line, make_adj, make_claim

S = ClaimState


def paid_adj(cid, pccn="PCN1", charge="110.00", paid="59.00", co45="31.00", copay="20.00"):
    return make_adj(cid=cid, pccn=pccn, charge=charge, paid=paid, pr=copay,
                    lines=[line(1, "99213", charge, paid, [adj_code("CO-45", co45), adj_code("PR-3", copay)])])


def gw_event(cid, state, n=1, source="payer-gateway"):
    return ClaimStatusChanged(event_id=f"GW{n}-{state.value}", claim_id=cid, state=state, occurred_at=NOW,
                              source_service=source, trigger_id=f"gw-{n}")


def roundtrip(entry):
    """Entries live in a Faust table: they must survive JSON."""
    return json.loads(json.dumps(entry))


# --- lifecycle --------------------------------------------------------------------------------


def test_full_lifecycle_created_submitted_acknowledged_paid_closed():
    claim = make_claim()
    t = apply_claim(None, claim, NOW)
    assert [e.state for e in t.status_events] == [S.CREATED]
    entry = roundtrip(t.entry)
    for n, st in enumerate((S.SUBMITTED, S.ACKNOWLEDGED), 1):
        t = apply_status(entry, gw_event(claim.claim_id, st, n), NOW)
        assert t.status_events == [] and t.ignored is None  # the gateway's event is the record
        entry = roundtrip(t.entry)
    assert entry["state"] == "acknowledged"
    p = apply_adjudication(entry, paid_adj(claim.claim_id), NOW)
    [ev] = p.status_events
    assert (ev.previous_state, ev.state, ev.paid) == (S.ACKNOWLEDGED, S.PAID, D("59.00"))
    assert ev.event_id == status_event_id(claim.claim_id, p.entry["postings"][0]["adjudication_id"], "paid")
    t = apply_status(roundtrip(p.entry), gw_event(claim.claim_id, S.CLOSED, 9, "appeals-desk"), NOW)
    assert t.entry["state"] == "closed"
    assert [h["state"] for h in t.entry["history"]] == ["created", "submitted", "acknowledged", "paid", "closed"]


def test_held_then_released_then_stale_events_ignored():
    claim = make_claim()
    held = HeldClaim(claim_id=claim.claim_id, claim=claim, held_at=NOW, error_count=2, rule_families=[])
    t = apply_held(None, held, NOW)
    assert [e.state for e in t.status_events] == [S.HELD]
    assert apply_held(t.entry, held, NOW).duplicate
    t = apply_claim(t.entry, claim, NOW)
    assert [(e.previous_state, e.state) for e in t.status_events] == [(S.HELD, S.CREATED)]
    p = apply_adjudication(t.entry, paid_adj(claim.claim_id), NOW)
    late = apply_status(p.entry, gw_event(claim.claim_id, S.SUBMITTED), NOW)
    assert late.ignored and late.entry["state"] == "paid" and late.metrics.stale_events == 1
    assert apply_status(late.entry, gw_event(claim.claim_id, S.SUBMITTED), NOW).duplicate  # replay of the stale one


def test_claim_replay_is_duplicate_and_own_echo_is_absorbed():
    claim = make_claim()
    t = apply_claim(None, claim, NOW)
    again = apply_claim(t.entry, claim, NOW)
    assert again.duplicate and again.status_events == []
    echo = apply_status(t.entry, t.status_events[0], NOW)  # we consume claims.status.v1 too
    assert echo.duplicate


def test_replacement_and_void_move_the_original_claim():
    original = make_claim(1)
    o = apply_claim(None, original, NOW)
    o = apply_adjudication(o.entry, paid_adj(original.claim_id), NOW)
    repl = make_claim(2, frequency="7", original=original.claim_id)
    r = apply_claim(None, repl, NOW)
    assert [(e.claim_id, e.state) for e in r.status_events] == [(repl.claim_id, S.CREATED), (original.claim_id, S.CORRECTED)]
    moved = apply_status(o.entry, r.status_events[1], NOW)
    assert moved.entry["state"] == "corrected"
    void = make_claim(3, frequency="8", original=original.claim_id)
    v = apply_claim(None, void, NOW)
    assert v.status_events[1].state == S.VOIDED
    assert apply_status(moved.entry, v.status_events[1], NOW).ignored  # a corrected claim cannot be voided afterwards
    assert apply_claim(r.entry, repl, NOW).status_events == []  # replay: nothing re-emitted


# --- posting and balancing ----------------------------------------------------------------------


def test_balanced_remit_has_no_findings_and_exact_totals():
    adj = make_adj(charge="230.00", paid="121.60", pr="30.40",
                   claim_adjs=[],
                   lines=[line(1, "99214", "160.00", "89.60", [adj_code("CO-45", "48.00"), adj_code("PR-2", "22.40")]),
                          line(2, "36415", "70.00", "32.00", [adj_code("CO-45", "30.00"), adj_code("PR-1", "8.00")])])
    assert balance_findings(adj) == []
    p = post(None, adj, NOW)
    assert not p.out_of_balance and p.findings == []
    t = totals(p.entry)
    assert (t["charged"], t["paid"], t["patient_responsibility"], t["adjusted"]) == (D("230.00"), D("121.60"), D("30.40"), D("108.40"))
    assert t["adjusted_by_group"]["CO"] == D("78.00") and t["adjusted_by_group"]["PR"] == D("30.40")
    assert t["charged"] - t["adjusted"] == t["paid"]


def test_out_of_balance_claim_flagged_never_forced():
    # charge 100 - CO-45 30 = 70, but the payer says it paid 60
    adj = make_adj(charge="100.00", paid="60.00", lines=[line(1, "99213", "100.00", "60.00", [adj_code("CO-45", "30.00")])])
    p = post(None, adj, NOW)
    codes = {f.code for f in p.findings}
    assert {"BAL-001", "BAL-002"} <= codes and p.out_of_balance
    bal = next(f for f in p.findings if f.code == "BAL-001")
    assert bal.delta == "10.00" and bal.severity == "error"
    assert "OUT OF BALANCE" in p.status_events[-1].reason
    assert p.entry["totals"]["paid"] == "60.00"  # posted as reported
    assert p.entry["out_of_balance"] is True and p.entry["postings"][0]["out_of_balance"] is True
    assert p.metrics.out_of_balance == 1


def test_line_level_imbalance_and_line_sum_mismatch():
    adj = make_adj(charge="150.00", paid="70.00",
                   claim_adjs=[adj_code("CO-45", "80.00")],  # claim balances: 150 - 80 = 70
                   lines=[line(1, "99213", "100.00", "70.00", [])])  # line: 100 - 0 != 70; lines sum 100 != 150
    codes = sorted(f.code for f in balance_findings(adj))
    assert codes == ["BAL-002", "BAL-003"]


def test_patient_responsibility_mismatch_is_a_warning():
    adj = make_adj(charge="100.00", paid="50.00", pr="25.00",
                   lines=[line(1, "99213", "100.00", "50.00", [adj_code("CO-45", "30.00"), adj_code("PR-3", "20.00")])])
    [f] = balance_findings(adj)
    assert f.code == "BAL-004" and f.severity == "warning"
    assert not post(None, adj, NOW).out_of_balance


def test_partial_payment_state():
    adj = make_adj(charge="230.00", paid="80.00",
                   lines=[line(1, "11102", "120.00", "80.00", [adj_code("CO-45", "40.00")]),
                          line(2, "87880", "110.00", "0.00", [adj_code("CO-50", "110.00")])])
    p = post(None, adj, NOW)
    assert p.status_events[-1].state == S.PARTIALLY_PAID
    [wi] = p.work_items
    assert wi.denied_amount == D("110.00") and "lines 2" in wi.explanation


def test_reversal_of_paid_claim_undoes_the_posting():
    claim = make_claim()
    e = apply_claim(None, claim, NOW).entry
    original = paid_adj(claim.claim_id)
    p = apply_adjudication(e, original, NOW)
    rev = reversal_of(original)
    r = apply_adjudication(roundtrip(p.entry), rev, NOW + timedelta(days=14))
    assert r.findings == []
    [ev] = r.status_events
    assert (ev.previous_state, ev.state, ev.rule_id, ev.paid) == (S.PAID, S.REVERSED, "DEN-020", D("0.00"))
    t = totals(r.entry)
    assert t["charged"] == t["paid"] == t["patient_responsibility"] == t["adjusted"] == 0
    assert all(v == 0 for v in t["adjusted_by_group"].values())
    assert r.entry["postings"][0]["reversed_by"] == rev.adjudication_id
    [credit] = r.patient_bills
    assert credit.amount == D("-20.00") and credit.copay == D("-20.00")
    # the payer re-adjudicates after the reversal: a new remit posts on a clean slate
    again = paid_adj(claim.claim_id, pccn="PCN2", paid="69.00", copay="10.00")
    a = apply_adjudication(r.entry, again, NOW + timedelta(days=20))
    assert a.status_events[-1].state == S.PAID and a.entry["totals"]["paid"] == "69.00"


def test_reversal_without_original_and_with_wrong_amounts_flagged():
    lonely = reversal_of(paid_adj("CLAIMX"))
    p = post(None, lonely, NOW)
    assert [f.code for f in p.findings] == ["REV-001"]
    e = post(None, paid_adj("CLAIMY"), NOW).entry
    wrong = reversal_of(paid_adj("CLAIMY")).model_copy(update={"paid_amount": D("-50.00")})
    codes = [f.code for f in post(e, wrong, NOW).findings]
    assert "REV-002" in codes and "BAL-001" in codes


def test_reversal_closes_the_denial_work_item():
    adj = make_adj(cid="C9", status="4", charge="100.00", lines=[line(1, "99213", "100.00", "0.00", [adj_code("CO-50", "100.00")])])
    p = post(None, adj, NOW)
    assert len(p.entry["open_items"]) == 1
    r = post(p.entry, reversal_of(adj), NOW)
    assert r.entry["open_items"] == [] and r.metrics.closed_work_items == 1


def test_duplicate_adjudication_posted_once():
    claim = make_claim()
    e = apply_claim(None, claim, NOW).entry
    adj = paid_adj(claim.claim_id)
    p1 = apply_adjudication(e, adj, NOW)
    p2 = apply_adjudication(roundtrip(p1.entry), adj, NOW + timedelta(minutes=5))
    assert p2.duplicate and p2.status_events == [] and p2.work_items == [] and p2.patient_bills == []
    assert p2.entry["totals"] == p1.entry["totals"] and len(p2.entry["postings"]) == 1


def test_skeleton_entries_are_upgraded():
    legacy = {"claim_id": "C1", "state": "paid", "charged": "100.00", "paid": "72.00", "patient_responsibility": "0.00",
              "adjusted": "28.00", "posted": ["ADJOLD"]}
    adj = paid_adj("C1")
    p = post(legacy, adj, NOW)
    assert p.entry["totals"]["paid"] == "131.00"
    assert post(p.entry, adj.model_copy(update={"adjudication_id": "ADJOLD"}), NOW).duplicate


# --- out of order -------------------------------------------------------------------------------


def test_adjudication_before_claim_waits_then_matches():
    claim = make_claim()
    adj = paid_adj(claim.claim_id)
    policy = Policy(pending_ttl=timedelta(hours=6))
    p = apply_adjudication(None, adj, NOW, policy)
    assert p.pending and p.status_events == [] and p.metrics.pending_added == 1
    assert p.entry["totals"]["paid"] == "0.00"
    assert apply_adjudication(roundtrip(p.entry), adj, NOW, policy).duplicate  # a redelivery while waiting
    t = apply_claim(roundtrip(p.entry), claim, NOW + timedelta(hours=1), policy)
    assert [e.state for e in t.status_events] == [S.CREATED, S.PAID]
    assert t.entry["pending"] == [] and t.entry["totals"]["paid"] == "59.00" and t.metrics.pending_released == 1
    assert [b.amount for b in t.patient_bills] == [D("20.00")]


def test_adjudication_before_status_event_matches_on_status():
    adj = paid_adj("CGW")
    p = apply_adjudication(None, adj, NOW)
    t = apply_status(p.entry, gw_event("CGW", S.SUBMITTED), NOW)
    assert [e.state for e in t.status_events] == [S.PAID]


def test_pending_then_expired_is_unmatched():
    adj = paid_adj("CLOST")
    policy = Policy(pending_ttl=timedelta(hours=6))
    origin = {"topic": "adjudications.v1", "partition": 2, "offset": 41}
    p = apply_adjudication(None, adj, NOW, policy, origin=origin)
    early = expire_pending(roundtrip(p.entry), NOW + timedelta(hours=5))
    assert early.unmatched == [] and early.entry["pending"]
    late = expire_pending(roundtrip(p.entry), NOW + timedelta(hours=6))
    assert late.unmatched == [adj] and late.entry is None and late.metrics.unmatched == 1
    assert late.unmatched_origins == [origin]
    # the claim shows up after expiry: the stale remit is not posted, it is reported
    t = apply_claim(p.entry, make_claim().model_copy(update={"claim_id": "CLOST"}), NOW + timedelta(hours=7), policy)
    assert t.unmatched == [adj] and t.entry["totals"]["paid"] == "0.00"
    # another remit for the same unknown claim sweeps the expired one too
    other = paid_adj("CLOST", pccn="PCN9")
    q = apply_adjudication(p.entry, other, NOW + timedelta(hours=8), policy)
    assert q.unmatched == [adj] and q.pending and len(q.entry["pending"]) == 1


def test_post_keeps_skeleton_meaning_without_claim():
    p = post(None, paid_adj("CANY"), NOW)
    assert not p.pending and p.status_events[-1].state == S.PAID


def test_entries_are_json_and_money_is_strings():
    claim = make_claim()
    p = apply_adjudication(apply_claim(None, claim, NOW).entry, paid_adj(claim.claim_id), NOW)
    text = json.dumps(p.entry)
    assert "59.00" in text and "Test" not in text and "Person" not in text  # no patient data in the ledger
    assert all(isinstance(v, str) for k, v in p.entry["totals"].items() if k != "adjusted_by_group")
    assert isinstance(Decimal(p.entry["totals"]["paid"]), Decimal)
