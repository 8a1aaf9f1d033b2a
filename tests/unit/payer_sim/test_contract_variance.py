"""The payer simulator against claims that carry expectations (Claim v2): priced lines are
allowed exactly as expected unless seeded (underpaid / downcoded with SVC06 / overpaid), the
comparison at posting finds exactly the seeded lines, and every remit still balances."""

from __future__ import annotations

from decimal import Decimal

from claimflow.codec import Codec
from claimflow.models import Claim
from claimflow.reimbursement.contracts import Pricer, load_contract_book
from services.adjudicator.logic import _claim_summary
from services.adjudicator.underpayments import _denied, compare
from services.payer_sim.logic import SimConfig, adjudicate, seeded_variances
from tests.unit.payer_sim.sim_helpers import NOW, claims

CONFIG = SimConfig(seed=7)


def priced_claims(n: int = 600) -> list[Claim]:
    """Claims priced without a PFS release: the AET45 rate table and the BCX22 fixed-rate carve-out."""
    pricer = Pricer(load_contract_book(), None)
    return [pricer.annotate(c) for c in claims(n, seed=5)]


def test_simulated_variances_are_exactly_what_posting_finds():
    truth, found, compared = set(), set(), 0
    for claim in priced_claims():
        adj = adjudicate(claim, CONFIG)
        assert adj.total_charge - sum(a.amount for l in adj.service_lines for a in l.adjustments) == adj.paid_amount
        seeded = seeded_variances(claim, CONFIG)
        if adj.claim_status_code in ("1", "19"):
            truth |= {(claim.claim_id, l.line_number, seeded[l.line_number].kind) for l in adj.service_lines
                      if l.line_number in seeded and not _denied(l)}
        res = compare(adj, _claim_summary(claim), NOW)
        compared += len(res.compared)
        found |= {(i.claim_id, i.line_number, i.kind.value) for i in res.items}
        for line in adj.service_lines:
            if line.downcoded:
                assert seeded[line.line_number].kind == "downcoded" and line.original_procedure_code != line.procedure_code
    assert compared > 50 and len(truth) >= 3, (compared, truth)
    assert found == truth


def test_claim_v2_round_trips_with_its_expectation():
    claim = next(c for c in priced_claims(50) if any(l.expected_allowed.amount is not None for l in c.lines))
    codec = Codec()
    back = Claim.model_validate(codec.decode(codec.encode("Claim", claim.to_avro()), "Claim"))
    assert back == claim
    line = next(l for l in back.lines if l.expected_allowed.amount is not None)
    assert line.expected_allowed.amount > Decimal("0") and line.expected_allowed.contract_term


def test_unpriced_claims_are_paid_as_before():
    plain = claims(50, seed=5)
    for c in plain:
        adj = adjudicate(c, CONFIG)
        assert all(l.original_procedure_code is None for l in adj.service_lines)
