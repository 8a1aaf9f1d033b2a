"""The worklist's rules: filters and sorts on a real SQLite read model, and the actions built
from the item page (late filing, write-off limit and who may approve it, double submit gives
one action id, underpayments, outcomes entered by hand)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from claimflow import topics

from .builders import appeal_action, underpayment, work_item

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
LIMIT = Decimal("500.00")


def project(topic, record):
    from services.workbench.projection import project as apply

    apply(topic, record)


def rules():
    from services.workbench import worklist_rules

    return worklist_rules


def row(pk):
    from services.workbench.models import WorkItem

    return WorkItem.objects.get(pk=pk)


@pytest.fixture
def worklist(db):
    project(topics.APPEALS.name, work_item("W-A", claim="C-A", adjudication="AD-A", payer="MCR01", codes=("CO-50",), priority=300.0,
                                           denied="400.00", deadline=date(2026, 4, 25)))
    project(topics.APPEALS.name, work_item("W-B", claim="C-B", adjudication="AD-B", payer="BCX22", codes=("CO-97",), priority=90.0,
                                           denied="900.00", deadline=date(2026, 4, 10)))
    project(topics.APPEALS.name, work_item("W-C", claim="C-C", adjudication="AD-C", payer="MCR01", codes=("PR-204",), priority=10.0,
                                           denied="50.00", deadline=None, level=None, kind="manual_review"))
    project(topics.UNDERPAYMENTS.name, underpayment("W-U", claim="C-U", recoverable="700.00"))
    project(topics.APPEAL_ACTIONS.name, appeal_action("assigned", wid="W-B", claim="C-B", aid="AS-1", assignee="bea"))
    project(topics.APPEAL_ACTIONS.name, appeal_action("written_off", wid="W-C", claim="C-C", aid="WO-1", reason="small"))


def ids(qs):
    return [w.work_item_id for w in qs]


def listing(**params):
    from services.workbench.models import WorkItem

    r = rules()
    return ids(r.filter_worklist(WorkItem.objects.all(), params, TODAY).order_by(*r.SORTS[r.sort_key(params)][1]))


def test_default_is_open_and_filed_by_priority(worklist):
    assert listing() == ["W-U", "W-A", "W-B"]  # underpayment 700 x 0.6 = 420; W-C is closed
    assert listing(sort="deadline") == ["W-B", "W-A", "W-U"]  # no deadline last
    assert listing(sort="dollars") == ["W-B", "W-U", "W-A"]
    assert listing(sort="nonsense") == listing()


def test_filters_kind_payer_carc_bucket_assignee(worklist):
    assert listing(kind="underpayment") == ["W-U"]
    assert listing(payer="MCR01") == ["W-A"]
    assert listing(carc="CO") == ["W-A", "W-B"] and listing(carc="co-97") == ["W-B"] and listing(carc="50") == ["W-A"]
    assert listing(bucket="overdue") == ["W-B"] and listing(bucket="0-7") == ["W-A"] and listing(bucket="none") == ["W-U"]
    assert listing(assignee="bea") == ["W-B"] and listing(assignee="-") == ["W-U", "W-A"]
    assert listing(status="closed") == ["W-C"]


def test_deadline_buckets_are_inclusive_ranges_of_days_left():
    r = rules()
    assert r.deadline_range("0-7", TODAY) == (TODAY, date(2026, 4, 27))
    assert r.deadline_range("overdue", TODAY) == (None, date(2026, 4, 19))
    assert r.deadline_range("121+", TODAY) == (date(2026, 8, 19), None)
    assert r.deadline_range("bogus", TODAY) is None


BILLER = None


def biller():
    return rules().Actor("bea", ("biller",))


def supervisor():
    return rules().Actor("sam", ("supervisor",))


def test_filing_after_the_deadline_needs_a_reason_and_is_flagged(worklist):
    r = rules()
    with pytest.raises(r.Refused, match="late filing needs a recorded reason"):
        r.build_action(row("W-B"), "file", {"filed_on": "2026-04-20"}, biller(), NOW, LIMIT)
    a = r.build_action(row("W-B"), "file", {"filed_on": "2026-04-20", "late_reason": "records came late"}, biller(), NOW, LIMIT)
    assert a.late_reason == "records came late" and a.actor == "bea" and a.actor_role == "biller"
    project(topics.APPEAL_ACTIONS.name, a)
    assert row("W-B").filed_late and row("W-B").status == "filed"


def test_the_actor_is_the_logged_in_user_never_a_form_field(worklist):
    a = rules().build_action(row("W-A"), "file", {"actor": "mallory", "filed_on": "2026-04-20"}, biller(), NOW, LIMIT)
    assert a.actor == "bea"


def test_double_submit_of_file_gives_one_action_id_and_a_second_filing_is_refused(worklist):
    r = rules()
    one = r.build_action(row("W-A"), "file", {"filed_on": "2026-04-20"}, biller(), NOW, LIMIT)
    two = r.build_action(row("W-A"), "file", {"filed_on": "2026-04-19", "method": "fax"}, biller(), NOW, LIMIT)
    assert one.action_id == two.action_id  # same item and level: recorded once
    project(topics.APPEAL_ACTIONS.name, one)
    with pytest.raises(r.Refused, match="already filed"):
        r.build_action(row("W-A"), "file", {"filed_on": "2026-04-20"}, biller(), NOW, LIMIT)


def test_write_off_above_the_limit_only_by_a_supervisor(worklist):
    r = rules()
    with pytest.raises(r.Refused, match="Only a supervisor can write this off"):
        r.build_action(row("W-B"), "write_off", {"reason": "not worth it"}, biller(), NOW, LIMIT)  # 900 > 500
    small = r.build_action(row("W-B"), "write_off", {"reason": "partial", "amount": "120.00"}, biller(), NOW, LIMIT)
    assert small.approved_by is None and small.write_off_amount == Decimal("120.00")
    big = r.build_action(row("W-B"), "write_off", {"reason": "not worth it"}, supervisor(), NOW, LIMIT)
    assert (big.approved_by, big.approver_role, big.actor_role) == ("sam", "supervisor", "supervisor")
    with pytest.raises(r.Refused, match="write the reason"):
        r.build_action(row("W-B"), "write_off", {}, supervisor(), NOW, LIMIT)
    with pytest.raises(r.Refused, match="not an amount"):
        r.build_action(row("W-B"), "write_off", {"reason": "x", "amount": "lots"}, supervisor(), NOW, LIMIT)


def test_underpayments_are_assigned_resolved_or_written_off_not_filed(worklist):
    r = rules()
    with pytest.raises(r.Refused, match="underpayment"):
        r.build_action(row("W-U"), "file", {}, biller(), NOW, LIMIT)
    with pytest.raises(r.Refused, match="supervisor"):
        r.build_action(row("W-U"), "write_off", {"reason": "x"}, biller(), NOW, LIMIT)  # 700 > 500
    assert r.build_action(row("W-U"), "resolve", {"reason": "payer reprocessed"}, biller(), NOW, LIMIT).action.value == "resolved"


def test_closed_items_and_repeated_assignment_are_refused(worklist):
    r = rules()
    with pytest.raises(r.Refused, match="closed"):
        r.build_action(row("W-C"), "assign", {}, biller(), NOW, LIMIT)
    with pytest.raises(r.Refused, match="already assigned"):
        r.build_action(row("W-B"), "assign", {"assignee": "bea"}, biller(), NOW, LIMIT)


def test_outcome_by_hand_only_for_a_filed_appeal(worklist):
    r = rules()
    with pytest.raises(r.Refused, match="only be entered for a filed appeal"):
        r.build_outcome(row("W-A"), {"outcome": "overturned"}, NOW)
    project(topics.APPEAL_ACTIONS.name, r.build_action(row("W-A"), "file", {"filed_on": "2026-04-20"}, biller(), NOW, LIMIT))
    o = r.build_outcome(row("W-A"), {"outcome": "overturned"}, NOW)
    assert o.recovered_amount == Decimal("400.00") and o.reason_code == "50"
    assert o.outcome_id == r.build_outcome(row("W-A"), {"outcome": "overturned"}, NOW).outcome_id
    with pytest.raises(r.Refused, match="more than"):
        r.build_outcome(row("W-A"), {"outcome": "partially_overturned", "recovered": "401.00"}, NOW)
