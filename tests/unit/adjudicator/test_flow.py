"""The adjudicator shell's bookkeeping, pure (services/adjudicator/flow.py): metric samples
of a posting, the ledger write, and dead-lettering each unmatched remittance once."""

from __future__ import annotations

import json
from datetime import timedelta

from services.adjudicator import flow
from services.adjudicator.logic import Policy, apply_adjudication, apply_claim, expire_pending, post
from tests.unit.adjudicator.adj_helpers import NOW, adj_code, make_adj, make_claim


def test_counts_of_a_denial_posted_on_a_known_claim():
    claim = make_claim(payer="MCR01")
    entry = apply_claim(None, claim, NOW).entry
    adj = make_adj(cid=claim.claim_id, status="4", charge="100.00", paid="0.00", claim_adjs=[adj_code("CO-50", "100.00")])
    c = flow.counts(post(entry, adj, NOW))
    assert c.payer == "MCR01"  # from the claim's coverage, kept in the entry's context
    assert c.adjudications == ("denied",)
    assert c.denials and all(group == "CO" for group, _ in c.denials)
    assert not c.duplicate and c.unknown_codes == 0


def test_duplicates_are_flagged():
    adj = make_adj(cid="CNOCLAIM", status="1", charge="100.00", paid="100.00")
    first = post(None, adj, NOW)
    assert flow.counts(first).duplicate is False
    again = post(json.loads(json.dumps(first.entry)), adj, NOW)
    assert flow.counts(again).duplicate is True


def test_ledger_write_deletes_an_entry_left_empty_by_the_sweep():
    policy = Policy(pending_ttl=timedelta(hours=1))
    parked = apply_adjudication(None, make_adj(cid="CGONE", status="1", charge="10.00", paid="10.00"), NOW, policy)
    assert flow.ledger_write(parked) == parked.entry and parked.entry["pending"]
    assert flow.ledger_write(expire_pending(parked.entry, NOW + timedelta(hours=2))) is None


def test_unmatched_remittance_is_dead_lettered_once():
    policy = Policy(pending_ttl=timedelta(hours=1))
    adj = make_adj(cid="CLOST", status="1", charge="10.00", paid="10.00")
    origin = {"topic": "adjudications.v1", "partition": 1, "offset": 7}
    parked = apply_adjudication(None, adj, NOW, policy, origin=origin)
    guard = flow.UnmatchedGuard()
    swept = expire_pending(parked.entry, NOW + timedelta(hours=2))
    assert guard.take(swept) == [(adj, origin)]
    assert guard.take(expire_pending(parked.entry, NOW + timedelta(hours=3))) == []  # the next sweep finds it again
    assert flow.UnmatchedGuard().take(swept) == [(adj, origin)]  # a new process sends it (at least once)
