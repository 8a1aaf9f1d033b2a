"""Timely filing is selected by the payer's TYPE when its id is not listed in payers.yaml."""

from datetime import date, datetime, timezone

import pytest

from claimflow.models import Coverage, EditFamily, PlanType
from services.scrubber.refdata import RefDataError, load_payers

from .scrub_helpers import coded, rule_ids

TF = EditFamily.TIMELY_FILING


def _with_plan(claim_like, payer_id: str, plan: PlanType):
    cov = Coverage(payer_id=payer_id, payer_name="some contractor", plan_type=plan, member_id="M123456789")
    return claim_like.model_copy(update={"coverage": cov})


@pytest.mark.parametrize("plan,deadline", [(PlanType.MEDICARE, "2026-06-15"), (PlanType.MEDICAID, "2026-06-15"),
                                           (PlanType.COMMERCIAL, "2025-09-13"), (PlanType.OTHER, "2025-09-13")])
def test_unlisted_payer_id_takes_the_rules_of_its_type(run, plan, deadline):
    late = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
    fs = run(_with_plan(coded(dos=date(2025, 6, 15)), "ZZ999", plan), TF, now=late)
    assert rule_ids(fs) == ["TF-001"] and fs[0].source_row["deadline"] == deadline


def test_medicare_under_another_id_is_not_held_at_90_days(run):
    # 5 months after the date of service: inside Medicare's 12 months, outside the 90-day default
    fs = run(_with_plan(coded(dos=date(2026, 1, 10)), "J15MAC", PlanType.MEDICARE), TF,
             now=datetime(2026, 6, 10, 12, tzinfo=timezone.utc))
    assert fs == []


def test_listed_payer_inherits_its_type_and_unknown_types_are_refused(tmp_path):
    p = tmp_path / "payers.yaml"
    p.write_text("default: {timely_filing: {days: 90}}\n"
                 "payer_types: {medicare: {timely_filing: {months: 12}}}\n"
                 "payers: {M1: {type: medicare, name: a contractor}, C1: {name: plain, timely_filing: {days: 30}}}\n")
    rules = load_payers(p)
    assert rules.for_payer("M1").timely_months == 12 and rules.for_payer("C1").timely_days == 30
    assert rules.for_payer("nope", "medicare").timely_months == 12 and rules.for_payer("nope", "commercial").timely_days == 90
    p.write_text("payer_types: {medicare: {timely_filing: {months: 12}}}\npayers: {X: {type: medicair}}\n")
    with pytest.raises(RefDataError):
        load_payers(p)
