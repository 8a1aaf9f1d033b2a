"""claimflow_denials_total counts denials only; the patient's share (PR-1/2/3) has its own
counter (issue #18, item 7)."""

from __future__ import annotations

from services.adjudicator.logic import post
from tests.unit.adjudicator.adj_helpers import NOW, adj_code, line, make_adj


def test_patient_responsibility_is_not_counted_as_a_denial():
    adj = make_adj(charge="200.00", paid="120.00", pr="50.00", status="1",
                   lines=[line(1, "99213", "100.00", "50.00", [adj_code("PR-2", "20.00"), adj_code("PR-3", "30.00")]),
                          line(2, "93000", "100.00", "70.00", [adj_code("CO-45", "30.00")])])
    p = post(None, adj, NOW)
    assert p.metrics.denials == []
    assert p.metrics.patient_shares == ["patient_share"]  # one bill-the-patient decision for PR-2 + PR-3


def test_a_real_denial_is_still_counted():
    adj = make_adj(charge="100.00", paid="0.00", status="4", lines=[line(1, "11102", "100.00", "0.00", [adj_code("CO-50", "100.00")])])
    p = post(None, adj, NOW)
    assert [g for g, _, _ in p.metrics.denials] == ["CO"] and p.metrics.patient_shares == []
