"""The denial worklist's projection rules on a real SQLite read model: work items,
underpayments, actions, outcomes and no-action records; idempotent under redelivery, any
order between topics, a redelivered work item never reopens what people closed, and an
outcome re-scores the open items of the same payer and CARC."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from claimflow import topics

from .builders import appeal_action, appeal_outcome, underpayment, work_item


def project(topic, record):
    from services.workbench.projection import project as apply

    apply(topic, record)


def m():
    from services.workbench import models

    return models


def test_work_item_is_one_row_with_its_carc_split_for_filters(db):
    for _ in range(3):
        project(topics.APPEALS.name, work_item(codes=("CO-50", "CO-16")))
    it = m().WorkItem.objects.get()
    assert (it.carc_group, it.carc_code, it.reason_codes) == ("CO", "50", "CO-50 CO-16")
    assert it.status == "open" and it.denied_amount == Decimal("200.00") and it.deadline == date(2026, 7, 30)
    assert m().TimelineEvent.objects.filter(kind="work item").count() == 1


def test_underpayment_is_in_the_same_worklist_with_its_kind(db):
    project(topics.UNDERPAYMENTS.name, underpayment(recoverable="35.00"))
    it = m().WorkItem.objects.get(pk="UP-1")
    assert (it.kind, it.sub_kind, it.source) == ("underpayment", "underpaid", "underpayment")
    assert it.recoverable_amount == Decimal("35.00") and it.priority_score == 21.0  # 35 x 0.6 x 1 (no deadline)


def test_actions_assign_file_and_close_and_redelivery_does_not_reopen(db):
    project(topics.APPEALS.name, work_item())
    project(topics.APPEAL_ACTIONS.name, appeal_action("assigned", aid="A1", assignee="bea"))
    project(topics.APPEAL_ACTIONS.name, appeal_action("filed", aid="A2", filing_method="portal", packet_sha256="a" * 64))
    it = m().WorkItem.objects.get()
    assert (it.assignee, it.status, str(it.filed_on), it.filing_method, it.filed_late) == ("bea", "filed", "2026-04-10", "portal", False)
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("overturned"))
    project(topics.APPEALS.name, work_item(priority=999.0))  # redelivered: fields refresh, the closing stays
    it = m().WorkItem.objects.get()
    assert (it.status, it.closed_how, it.recovered_amount) == ("closed", "overturned", Decimal("200.00"))
    assert it.priority_score == 999.0
    assert m().WorkAction.objects.count() == 2


def test_filing_after_the_deadline_is_flagged_with_its_reason(db):
    project(topics.APPEALS.name, work_item(deadline=date(2026, 4, 5)))
    project(topics.APPEAL_ACTIONS.name, appeal_action("filed", filed_on=date(2026, 4, 10), late_reason="payer portal was down"))
    it = m().WorkItem.objects.get()
    assert it.filed_late and it.late_reason == "payer portal was down"


def test_an_action_that_overtakes_its_work_item_is_applied_when_the_item_arrives(db):
    project(topics.APPEAL_ACTIONS.name, appeal_action("assigned", aid="A1", assignee="carl"))
    project(topics.APPEAL_ACTIONS.name, appeal_action("written_off", aid="A2", reason="small balance"))
    project(topics.APPEALS.name, work_item())
    it = m().WorkItem.objects.get()
    assert (it.assignee, it.status, it.closed_how) == ("carl", "closed", "written_off")


def test_upheld_closes_the_item_and_links_the_next_level_whichever_comes_first(db):
    project(topics.APPEALS.name, work_item())
    project(topics.APPEAL_ACTIONS.name, appeal_action("filed"))
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("upheld"))
    project(topics.APPEALS.name, work_item(wid="WI-2", level="reconsideration", level_index=1, deadline=date(2026, 10, 28)))
    first, nxt = m().WorkItem.objects.get(pk="WI-1"), m().WorkItem.objects.get(pk="WI-2")
    assert (first.closed_how, first.next_item_id) == ("upheld", "WI-2") and nxt.status == "open"
    # the other order: the next level is there before the outcome is projected
    project(topics.APPEALS.name, work_item(wid="WI-3", claim="CF-3", adjudication="ADJ-3"))
    project(topics.APPEAL_ACTIONS.name, appeal_action("filed", wid="WI-3", claim="CF-3"))
    project(topics.APPEALS.name, work_item(wid="WI-4", claim="CF-3", adjudication="ADJ-3", level_index=1, level="reconsideration"))
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("upheld", wid="WI-3", claim="CF-3"))
    assert m().WorkItem.objects.get(pk="WI-3").next_item_id == "WI-4"


def test_an_outcome_rescores_open_items_of_the_same_payer_and_carc_only(db):
    from services.workbench.projection_denials import likelihood

    prior = likelihood("MCR01", "50")
    assert round(prior, 4) == 0.6  # MCR01 prior Beta(6, 4) in payers.yaml
    project(topics.APPEALS.name, work_item())
    project(topics.APPEALS.name, work_item(wid="WI-B", claim="CF-B", adjudication="ADJ-B", deadline=None, priority=1.0))
    project(topics.APPEALS.name, work_item(wid="WI-C", claim="CF-C", adjudication="ADJ-C", codes=("CO-97",), priority=5.0))
    project(topics.APPEAL_ACTIONS.name, appeal_action("filed"))
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("upheld"))
    b, c = m().WorkItem.objects.get(pk="WI-B"), m().WorkItem.objects.get(pk="WI-C")
    assert round(b.overturn_likelihood, 4) == round(6 / 11, 4)  # one more loss: Beta(6, 5)
    assert b.priority_score == round(200 * (6 / 11), 4)  # no deadline: urgency 1
    assert c.priority_score == 5.0  # another CARC: untouched
    # the same outcome again teaches nothing more
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("upheld"))
    assert m().AppealOutcomeRecord.objects.filter(counted=True).count() == 1


def test_an_outcome_for_an_item_never_filed_is_kept_but_teaches_nothing(db):
    project(topics.APPEALS.name, work_item())
    project(topics.APPEAL_OUTCOMES.name, appeal_outcome("upheld"))
    assert not m().AppealOutcomeRecord.objects.get().counted


def test_no_action_records_are_kept_once(db):
    from claimflow.models import NoActionDisposition

    rec = NoActionDisposition.model_validate({
        "record_id": "NA-1", "claim_id": "CF-9", "adjudication_id": "ADJ-9", "payer_id": "MCR01", "disposition": "no_action",
        "rule_id": "DEN-001", "reason_codes": ["CO-45"], "amount": "40.00", "why": "contractual reduction", "decided_at": "2026-04-01T09:00:00+00:00"})
    project(topics.NO_ACTION.name, rec)
    project(topics.NO_ACTION.name, rec)
    assert m().NoActionRecord.objects.count() == 1
