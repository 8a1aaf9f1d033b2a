"""The payer simulator answers filed appeals at odds per CARC and payer, deterministically."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from claimflow.models import AppealAction, AppealActionKind, AppealLevel, AppealOutcomeKind
from services.payer_sim.logic import AppealSimConfig, answer_appeal
from tests.unit.payer_sim.sim_helpers import NOW


def filing(n: int, carc: str = "50", payer: str = "MCR01", level=AppealLevel.REDETERMINATION, kind=AppealActionKind.FILED):
    extra = {"filed_on": date(2026, 4, 1)} if kind == AppealActionKind.FILED else {"assignee": "b2"}
    return AppealAction(action_id=f"A{n}", work_item_id=f"W{n}", claim_id=f"C{n}", action=kind, actor="b1", actor_role="biller",
                        occurred_at=NOW, appeal_level=level, payer_id=payer, reason_code=carc, appealed_amount=Decimal("120.00"), **extra)


@pytest.mark.parametrize("carc,payer,low,high", [("50", "MCR01", 0.55, 0.66), ("29", "MCR01", 0.12, 0.21), ("18", "AET45", 0.02, 0.08),
                                                 ("197", "BCX22", 0.40, 0.50)])
def test_win_rates_follow_the_odds_per_family(carc, payer, low, high):
    outs = [answer_appeal(filing(i, carc, payer)) for i in range(2000)]
    won = sum(o.outcome in (AppealOutcomeKind.OVERTURNED, AppealOutcomeKind.PARTIALLY_OVERTURNED) for o in outs) / len(outs)
    assert low <= won <= high, won


def test_answers_are_deterministic_and_well_formed():
    a, b = answer_appeal(filing(1)), answer_appeal(filing(1).model_copy(update={"action_id": "second-click"}))
    assert a == b and a.work_item_id == "W1" and a.claim_id == "C1" and a.reason_code == "50"
    kinds = Counter(answer_appeal(filing(i)).outcome for i in range(500))
    assert set(kinds) == {AppealOutcomeKind.OVERTURNED, AppealOutcomeKind.PARTIALLY_OVERTURNED, AppealOutcomeKind.UPHELD}
    for i in range(200):
        o = answer_appeal(filing(i))
        assert 20 <= (o.decided_on - date(2026, 4, 1)).days <= 60
        expected = {AppealOutcomeKind.OVERTURNED: Decimal("120.00"), AppealOutcomeKind.PARTIALLY_OVERTURNED: Decimal("60.00"),
                    AppealOutcomeKind.UPHELD: Decimal("0.00")}[o.outcome]
        assert o.recovered_amount == expected


def test_later_levels_are_harder_and_other_actions_get_no_answer():
    cfg = AppealSimConfig()
    assert cfg.win_odds("MCR01", "50", 2) < cfg.win_odds("MCR01", "50", 0)
    assert answer_appeal(filing(1, kind=AppealActionKind.ASSIGNED)) is None
