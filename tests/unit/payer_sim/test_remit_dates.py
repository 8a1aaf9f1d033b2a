"""The payer simulator never dates a remittance after the moment it answers (issue #18)."""

from __future__ import annotations

from datetime import timedelta

from services.payer_sim.logic import SimConfig, adjudicate
from tests.unit.payer_sim.sim_helpers import NOW, claims


def test_remittances_are_not_dated_in_the_future():
    sample = claims(60)
    as_of = NOW + timedelta(minutes=1)  # the claim record's time: the simulator answers at once
    for claim in sample:
        adj = adjudicate(claim, SimConfig(seed=3), as_of=as_of)
        assert adj.remittance_date <= as_of.date(), claim.claim_id
        assert claim.created_at <= adj.received_at <= as_of


def test_claims_adjudicated_later_keep_their_payment_lag():
    claim = claims(1)[0]
    later = NOW + timedelta(days=60)
    free = adjudicate(claim, SimConfig(seed=3))
    assert adjudicate(claim, SimConfig(seed=3), as_of=later).remittance_date == free.remittance_date > NOW.date()


def test_same_claim_and_answer_time_give_the_same_remittance():
    claim = claims(1)[0]
    as_of = NOW + timedelta(seconds=5)
    assert adjudicate(claim, SimConfig(seed=3), as_of=as_of) == adjudicate(claim, SimConfig(seed=3), as_of=as_of)
