"""Payer simulator: deterministic per claim + seed, balanced, realistic mix; and the
adjudicator's ledger totals over its output are exact to the cent."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from claimflow.models import Adjudication, AdjustmentGroup
from services.adjudicator.logic import Policy, apply_adjudication, apply_claim, balance_findings, totals
from services.payer_sim.logic import DENIAL_KINDS, SimConfig, adjudicate, reversal_of
from tests.unit.payer_sim.sim_helpers import NOW, claims

ZERO = Decimal("0.00")


def two_places(d: Decimal) -> bool:
    return d == d.quantize(Decimal("0.01")) and d.as_tuple().exponent == -2


def amounts(adj: Adjudication):
    yield from (adj.total_charge, adj.paid_amount, adj.patient_responsibility)
    for a in adj.claim_adjustments:
        yield a.amount
    for l in adj.service_lines:
        yield from (l.charge, l.paid_amount)
        yield from (a.amount for a in l.adjustments)


def test_deterministic_per_claim_and_seed(thousand_claims):
    sample = thousand_claims[:50]
    first = [adjudicate(c, SimConfig(seed=3)).model_dump() for c in sample]
    again = [adjudicate(c, SimConfig(seed=3)).model_dump() for c in reversed(sample)][::-1]  # order does not matter
    assert first == again
    other = [adjudicate(c, SimConfig(seed=4)).model_dump() for c in sample]
    assert first != other


def test_thousand_claims_balanced_and_ledger_exact(thousand_claims):
    policy = Policy()
    cfg = SimConfig(seed=7)
    sums = Counter()
    ledger = {}
    kinds = Counter()
    statuses = Counter()
    for claim in thousand_claims:
        adj = adjudicate(claim, cfg)
        assert balance_findings(adj) == [], adj.claim_id
        assert all(two_places(x) for x in amounts(adj))
        assert all(x >= 0 for x in amounts(adj))
        assert adj.total_charge == claim.total_charge
        assert [l.line_number for l in adj.service_lines] == [l.line_number for l in claim.lines]
        statuses[adj.claim_status_code] += 1
        for l in adj.service_lines:
            for a in l.adjustments:
                kinds[f"{a.group_code.value}-{a.reason_code}"] += 1
        sums["charged"] += adj.total_charge
        sums["paid"] += adj.paid_amount
        sums["pr"] += adj.patient_responsibility
        for a in (a for l in adj.service_lines for a in l.adjustments):
            sums[a.group_code.value] += a.amount
        # the adjudicator posts it (the claim first, the way the pipeline delivers it)
        entry = apply_claim(None, claim, NOW, policy).entry
        p = apply_adjudication(entry, adj, NOW, policy)
        assert not p.out_of_balance and not p.pending
        ledger[claim.claim_id] = p.entry
    t = [totals(e) for e in ledger.values()]
    assert sum((x["charged"] for x in t), ZERO) == sums["charged"]
    assert sum((x["paid"] for x in t), ZERO) == sums["paid"]
    assert sum((x["patient_responsibility"] for x in t), ZERO) == sums["pr"]
    for g in ("CO", "PR"):
        assert sum((x["adjusted_by_group"][g] for x in t), ZERO) == sums[g]
    assert sum((x["adjusted"] for x in t), ZERO) + sums["paid"] == sums["charged"]
    # a realistic mix: fee schedule, cost sharing and every configured denial kind
    for code in ("CO-45", "PR-1", "PR-2", "PR-3", *DENIAL_KINDS):
        assert kinds[code] > 0, code
    assert statuses["1"] > 800 and statuses["4"] > 0 and statuses["19"] > 0


def test_denial_rates_are_configurable(thousand_claims):
    sample = thousand_claims[:200]
    none = SimConfig(denial_rates={})
    assert all(adjudicate(c, none).claim_status_code in {"1", "19"} for c in sample)
    all50 = SimConfig(denial_rates={"CO-50": 1.0})
    for c in sample:
        adj = adjudicate(c, all50)
        codes = [a.reason_code for l in adj.service_lines for a in l.adjustments]
        assert codes.count("50") == 1
    unproc = adjudicate(sample[0], SimConfig(denial_rates={"CO-16": 1.0}))
    assert unproc.claim_status_code == "4" and "MA130" in unproc.remark_codes and unproc.paid_amount == 0
    with pytest.raises(ValueError):
        SimConfig(denial_rates={"CO-50": 0.8, "CO-97": 0.5})
    with pytest.raises(ValueError):
        SimConfig(denial_rates={"CO-4": 0.1})


def test_reversal_negates_and_balances(thousand_claims):
    adj = next(a for a in (adjudicate(c) for c in thousand_claims) if a.paid_amount > 0)
    rev = reversal_of(adj)
    assert rev.claim_status_code == "22" and rev.adjudication_id != adj.adjudication_id
    assert (rev.total_charge, rev.paid_amount, rev.patient_responsibility) == (-adj.total_charge, -adj.paid_amount, -adj.patient_responsibility)
    assert balance_findings(rev) == []
    assert rev.payer_claim_control_number == adj.payer_claim_control_number


def test_medicare_cost_sharing_shape(thousand_claims):
    mcr = [adjudicate(c) for c in thousand_claims if c.coverage and c.coverage.payer_id == "MCR01"][:100]
    assert mcr
    for adj in mcr:
        for l in adj.service_lines:
            if l.paid_amount > 0:
                codes = {a.reason_code for a in l.adjustments if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY}
                assert "3" not in codes  # Medicare Part B: coinsurance, no copay


def test_outputs_round_trip_through_the_avro_contracts(thousand_claims):
    from claimflow.codec import Codec
    from claimflow.models import ClaimStatusChanged, DenialWorkItem
    from services.adjudicator.logic import post

    codec = Codec()
    cfg = SimConfig(denial_rates={"CO-50": 0.3, "CO-97": 0.2, "CO-16": 0.1, "CO-197": 0.1})
    items = 0
    for claim in thousand_claims[:200]:
        adj = adjudicate(claim, cfg)
        for x in (adj, reversal_of(adj)):
            assert Adjudication.model_validate(codec.decode(codec.encode("Adjudication", x.to_avro()), "Adjudication")) == x
        p = post(apply_claim(None, claim, NOW).entry, adj, NOW)
        for e in p.status_events:
            assert ClaimStatusChanged.model_validate(codec.decode(codec.encode("ClaimStatusChanged", e.to_avro()), "ClaimStatusChanged")) == e
        for w in p.work_items:
            assert DenialWorkItem.model_validate(codec.decode(codec.encode("DenialWorkItem", w.to_avro()), "DenialWorkItem")) == w
            items += 1
    assert items > 0
