"""The dashboard's figures: the pure shaping (periods, pivots, buckets, rates, CSV) and the
SQL aggregations on a real SQLite read model built by the projector's rules, each against
figures computed by hand; the page, its SVG charts and CSVs through the Django test client
(a biller; no broker: an aggregate page publishes no access event)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from claimflow import topics
from services.workbench import figures as F

from .builders import T0, appeal_outcome, underpayment, work_item

D = Decimal


# --- pure shaping -------------------------------------------------------------------------


def test_period_is_day_up_to_a_month_then_week_then_month():
    d = date(2026, 4, 1)
    assert F.period_for(None, None) == F.DAY
    assert F.period_for(d, d + timedelta(days=31)) == F.DAY
    assert F.period_for(d, d + timedelta(days=32)) == F.WEEK
    assert F.period_for(d, d + timedelta(days=366)) == F.WEEK
    assert F.period_for(d, d + timedelta(days=367)) == F.MONTH
    # 2026-04-01 is a Wednesday: its week starts on Monday 2026-03-30
    assert F.period_start(date(2026, 4, 1), F.WEEK) == date(2026, 3, 30)
    assert F.period_start(datetime(2026, 4, 19, 23, tzinfo=timezone.utc), F.MONTH) == date(2026, 4, 1)
    assert F.period_label(date(2026, 4, 1), F.MONTH) == "2026-04"


def test_pivot_fills_zeros_and_sums_repeated_pairs():
    cats, series = F.pivot([("d1", "CO", 2), ("d2", "PR", 1), ("d1", "CO", 3), ("d2", "CO", 1)])
    assert cats == ("d1", "d2")
    assert {s.name: s.values for s in series} == {"CO": (5, 1), "PR": (0, 1)}
    cats, series = F.pivot([("a", "x", 1)], ["b", "a"], ["y", "x"])
    assert cats == ("b", "a") and [(s.name, s.values) for s in series] == [("y", (0, 0)), ("x", (0, 1))]


def test_top_names_folds_the_small_series_into_other():
    rows = [("d", "A", 5), ("d", "B", 4), ("d", "C", 1), ("e", "D", 2)]
    assert F.top_names(rows, 2) == [("d", "A", 5), ("d", "B", 4), ("d", "other", 1), ("e", "other", 2)]


def test_age_buckets_and_their_sql_cutoffs_agree_at_every_boundary():
    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    cut = F.age_cutoffs(now)
    for hours in list(range(0, 24 * 100, 7)) + [24 * k + e for k in (7, 8, 30, 31, 60, 61, 90, 91) for e in (-1, 0, 1)]:
        created = now - timedelta(hours=hours)
        by_sql = next((label for label, c in cut if c is not None and created > c), F.AGE_BUCKETS[-1][0])
        assert by_sql == F.age_bucket(F.age_days(created, now)), hours
    assert [F.age_bucket(d) for d in (0, 7, 8, 30, 31, 90, 91, 400)] == ["0-7", "0-7", "8-30", "8-30", "31-60", "61-90", "91+", "91+"]


def test_deadline_cutoffs_agree_with_the_adjudicators_buckets():
    from services.adjudicator.appeals import DEADLINE_BUCKETS, deadline_bucket, days_left

    today = date(2026, 5, 1)
    cut = F.deadline_cutoffs(today, DEADLINE_BUCKETS)
    for k in range(-10, 200):
        dl = today + timedelta(days=k)
        by_sql = next((label for label, c in cut if c is not None and dl <= c), DEADLINE_BUCKETS[-1][0])
        assert by_sql == deadline_bucket(days_left(dl, today)), k


def test_rates():
    assert F.success_rate({"overturned": 2, "partially_overturned": 1, "upheld": 1, "withdrawn": 5}) == D("0.7500")
    assert F.success_rate({"withdrawn": 3}) is None
    assert F.automation_rate(6, 1, 3) == D("0.7000") and F.automation_rate(0, 0, 0) is None
    assert F.percent(D("0.6667")) == "66.7%" and F.percent(None) == ""


def test_csv_keeps_money_as_two_decimals():
    fig = F.Figure("k", "t", "d", "stacked", "", "", (), (), ("bucket", "dollars"), (("0-7", D("12.5")), ("none", None)))
    assert fig.csv() == "bucket,dollars\n0-7,12.50\nnone,\n"


def test_actionable_dispositions_are_the_adjudicators(django_db):
    from services.adjudicator.rules import ACTIONABLE
    from services.workbench.dashboard import ACTIONABLE as OURS

    assert set(OURS) == {d.value for d in ACTIONABLE}


# --- SQL aggregations on the read model -----------------------------------------------------


def project(topic, record):
    from services.workbench.projection import project as apply

    apply(topic, record)


def denial(wid, *, payer="MCR01", codes=("CO-50",), kind="appeal", disposition=None, denied="100.00", remit=date(2026, 4, 1),
           deadline=None, level_index=0, created_at=T0, adjudication="ADJ-1"):
    w = work_item(wid=wid, claim=f"CF-{wid}", payer=payer, codes=codes, kind=kind, denied=denied, deadline=deadline,
                  level_index=level_index, created_at=created_at, adjudication=adjudication,
                  level=None if deadline is None else "redetermination")
    return type(w).model_validate({**w.model_dump(mode="json"), "remittance_date": remit.isoformat(),
                                   "disposition": disposition or w.disposition.value})


def no_action(rid, disposition, codes=("CO-50",), payer="MCR01", amount="40.00", at=T0):
    from claimflow.models import NoActionDisposition

    return NoActionDisposition.model_validate({
        "record_id": rid, "claim_id": f"CF-{rid}", "adjudication_id": "ADJ-N", "payer_id": payer, "disposition": disposition,
        "rule_id": "DEN-001", "reason_codes": list(codes), "amount": amount, "why": "unit", "decided_at": at.isoformat()})


@pytest.fixture
def denials(db):
    day1, day2 = date(2026, 4, 1), date(2026, 4, 2)
    for w in (
        denial("A1", codes=("CO-50",), denied="200.00", remit=day1),
        denial("A2", codes=("CO-97", "CO-16"), kind="corrected_claim", disposition="correct_and_resubmit", denied="50.00", remit=day2),
        denial("A3", payer="BCX22", codes=("OA-18",), kind="verify_duplicate", disposition="verify_duplicate", denied="75.00", remit=day2),
        denial("A4", payer="BCX22", codes=("CO-45",), kind="write_off_approval", disposition="write_off", denied="10.00", remit=day2),
        # not a new denial: the next appeal level, and the write-off opened after the last level was upheld
        denial("A1-L2", codes=("CO-50",), denied="200.00", remit=day1, level_index=1),
        denial("A5-WO", codes=("CO-50",), kind="write_off_approval", disposition="appeal", denied="30.00", remit=day1),
    ):
        project(topics.APPEALS.name, w)
    project(topics.APPEALS.name, denial("A1", codes=("CO-50",), denied="200.00", remit=day1))  # redelivered
    project(topics.UNDERPAYMENTS.name, underpayment())  # not a denial
    # recorded as no-action: an actionable decision on a predetermination counts, bookkeeping does not
    project(topics.NO_ACTION.name, no_action("N1", "appeal", codes=("PI-204",), at=datetime(2026, 4, 2, 8, tzinfo=timezone.utc)))
    project(topics.NO_ACTION.name, no_action("N2", "no_action", codes=("CO-45",)))
    project(topics.NO_ACTION.name, no_action("N3", "bill_patient", codes=("PR-1",)))


def _table(fig):
    return [tuple(r) for r in fig.rows]


def test_denials_by_group_and_by_payer_per_day(denials):
    from services.workbench.dashboard import denials_over_time

    by_group = denials_over_time("group")
    assert _table(by_group) == [("2026-04-01", "CO", 1, D("200.00")),
                                ("2026-04-02", "CO", 2, D("60.00")),
                                ("2026-04-02", "OA", 1, D("75.00")),
                                ("2026-04-02", "PI", 1, D("40.00"))]
    assert by_group.totals == {"CO": 3, "OA": 1, "PI": 1}
    assert by_group.categories == ("2026-04-01", "2026-04-02")
    assert {s.name: s.values for s in by_group.series} == {"CO": (1, 2), "OA": (0, 1), "PI": (0, 1)}
    by_payer = denials_over_time("payer")
    assert by_payer.totals == {"MCR01": 3, "BCX22": 2}
    assert _table(by_payer) == [("2026-04-01", "MCR01", 1, D("200.00")), ("2026-04-02", "BCX22", 2, D("85.00")),
                                ("2026-04-02", "MCR01", 2, D("90.00"))]


def test_dollars_at_risk_counts_open_and_filed_denials_by_days_left(db):
    from services.workbench.dashboard import dollars_at_risk
    from services.workbench.models import WorkItem

    today = date(2026, 5, 1)
    for wid, days, amount in (("R1", -1, "10.00"), ("R2", 0, "20.00"), ("R3", 7, "30.00"), ("R4", 8, "40.00"),
                              ("R5", 121, "50.00"), ("R6", None, "60.00"), ("R7", 3, "70.00"), ("R8", 3, "80.00")):
        project(topics.APPEALS.name, denial(wid, denied=amount, deadline=None if days is None else today + timedelta(days=days)))
    project(topics.UNDERPAYMENTS.name, underpayment(recoverable="999.00"))
    WorkItem.objects.filter(pk="R7").update(status="filed")  # waiting for the payer: still at risk
    WorkItem.objects.filter(pk="R8").update(status="closed", closed_how="overturned")
    fig = dollars_at_risk(today)
    assert _table(fig) == [("overdue", 1, D("10.00")), ("0-7", 3, D("120.00")), ("8-30", 1, D("40.00")), ("31-60", 0, D("0.00")),
                           ("61-120", 0, D("0.00")), ("121+", 1, D("50.00")), ("none", 1, D("60.00"))]
    assert sum(fig.totals.values()) == D("280.00")


def test_appeal_success_by_payer_and_carc_counts_what_the_model_learned(db):
    from services.workbench.dashboard import appeal_success
    from services.workbench.models import AppealOutcomeRecord

    def rec(oid, payer, carc, outcome, counted=True):
        o = appeal_outcome(outcome=outcome, payer=payer, carc=carc, oid=oid)
        AppealOutcomeRecord.objects.create(outcome_id=oid, work_item_id="W", claim_id="C", payer_id=payer, reason_code=carc,
                                           appeal_level="redetermination", outcome=outcome, recovered_amount=o.recovered_amount,
                                           decided_on=o.decided_on, received_at=o.received_at, counted=counted)

    rec("o1", "MCR01", "50", "overturned")
    rec("o2", "MCR01", "50", "overturned")
    rec("o3", "MCR01", "50", "upheld")
    rec("o4", "BCX22", "97", "partially_overturned")
    rec("o5", "BCX22", "97", "withdrawn", counted=False)
    rec("o6", "BCX22", "97", "upheld", counted=False)  # an outcome for an appeal never filed: taught nothing
    fig = appeal_success()
    assert _table(fig) == [("MCR01", "50", 3, 2, 0, 1, "66.7%"), ("BCX22", "97", 1, 0, 1, 0, "100.0%")]
    assert fig.totals == {"overturned": 2, "upheld": 1, "partially_overturned": 1}
    assert fig.categories == ("MCR01 · CARC 50 (n=3)", "BCX22 · CARC 97 (n=1)")
    assert [round(float(v), 2) for v in fig.series[0].values] == [66.67, 100.0]


def test_coding_automation_per_day_from_the_coded_and_review_entries(db):
    from services.workbench.dashboard import coding_automation
    from services.workbench.models import TimelineEvent

    d1, d2 = T0, T0 + timedelta(days=1)
    rows = [("coded", d1, "rule")] * 3 + [("coded", d1, "learned"), ("review", d1, "coder"), ("review", d1, "coder"),
                                          ("coded", d2, "alice"), ("review", d2, "coder"), ("coded", d2, "rule"),
                                          ("scrubbed", d2, "scrubber")]
    for i, (kind, at, actor) in enumerate(rows):
        TimelineEvent.objects.create(event_key=f"k{i}", encounter_id=f"E{i}", kind=kind, at=at, actor=actor)
    fig = coding_automation()
    assert _table(fig) == [("2026-04-01", 3, 1, 2, 0, "66.7%"), ("2026-04-02", 1, 0, 1, 1, "50.0%")]
    assert fig.totals == {"rules": 4, "learned": 1, "review": 3, "person": 1}
    assert {s.name: s.values for s in fig.series} == {"coded by rules": (3, 1), "coded by learned rules": (1, 0),
                                                      "sent to review": (2, 1)}


def test_worklist_age_by_kind_with_filed_appeals_apart(db):
    from services.workbench.dashboard import worklist_age
    from services.workbench.models import WorkItem

    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    for wid, age_h, kind in (("G1", 1, "appeal"), ("G2", 7 * 24 + 23, "appeal"), ("G3", 8 * 24, "appeal"),
                             ("G4", 40 * 24, "manual_review"), ("G5", 200 * 24, "appeal"), ("G6", 2, "appeal")):
        project(topics.APPEALS.name, denial(wid, kind=kind, denied="10.00", created_at=now - timedelta(hours=age_h)))
    project(topics.UNDERPAYMENTS.name, type(underpayment()).model_validate({**underpayment().model_dump(mode="json"),
                                                                    "created_at": (now - timedelta(days=3)).isoformat()}))
    WorkItem.objects.filter(pk="G6").update(status="filed")
    WorkItem.objects.filter(pk="G5").update(status="closed")
    fig = worklist_age(now)
    assert _table(fig) == [("0-7", "appeal", 2, D("20.00")), ("0-7", "underpayment", 1, D("35.00")),
                           ("0-7", "filed, awaiting payer", 1, D("10.00")), ("8-30", "appeal", 1, D("10.00")),
                           ("31-60", "manual review", 1, D("10.00"))]
    assert fig.totals == {"open_items": 6, "open_denial_items": 5}
    assert {s.name: s.values for s in fig.series}["appeal"] == (2, 1, 0, 0, 0)


def test_aggregations_group_in_sql(denials):
    """A few queries per figure, whatever the number of items: no loop over rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from services.workbench.dashboard import registry

    for key, (build, _) in registry().items():
        with CaptureQueriesContext(connection) as q:
            build()
        assert len(q.captured_queries) <= 4, (key, [x["sql"] for x in q.captured_queries])
        assert any("GROUP BY" in x["sql"] for x in q.captured_queries), key


# --- page, charts, CSV ------------------------------------------------------------------------


def _client(role):
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user = User.objects.create_user(f"u-{role}", password="not-used-here-123")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    c = Client()
    c.force_login(user)
    return c


def test_biller_sees_every_chart_with_its_table_and_csv_and_no_access_event(denials):
    from services.workbench.dashboard import registry
    from services.workbench.models import AccessLog

    c = _client("biller")
    page = c.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    for key in registry():
        assert f'id="chart-{key}"' in html and f'/dashboard/{key}.svg' in html and f'/dashboard/{key}.csv' in html
        svg = c.get(f"/dashboard/{key}.svg")
        assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
        assert b"https://" not in svg.content  # nothing fetched by the chart
    assert "<td>CO</td>" in html and "<caption>" in html and "<td>200.00</td>" in html  # dollars as dollars
    csv = c.get("/dashboard/denials-by-group.csv")
    assert csv["Content-Disposition"] == 'attachment; filename="denials-by-group.csv"'
    assert csv.content.decode().splitlines() == ["day,CARC group,denials,denied dollars", "2026-04-01,CO,1,200.00",
                                                 "2026-04-02,CO,2,60.00", "2026-04-02,OA,1,75.00", "2026-04-02,PI,1,40.00"]
    assert AccessLog.objects.count() == 0  # aggregates only: not a PHI read
    assert c.get("/dashboard/nope.svg").status_code == 404


def test_a_coder_sees_the_coding_chart_only(denials):
    from services.workbench import views_dashboard
    from services.workbench.dashboard import registry
    from services.workbench.roles import CODER

    visible = [k for k, (_, roles) in registry().items() if CODER in roles]
    assert visible == ["coding-automation"]
    c = _client("coder")
    html = c.get("/dashboard/").content.decode()
    assert 'id="chart-coding-automation"' in html and 'id="chart-dollars-at-risk"' not in html
    assert "5 chart(s) are not shown for your role" in html
    assert c.get("/dashboard/coding-automation.svg").status_code == 200
    assert views_dashboard.chart_svg.claimflow_roles  # role-checked route (the refusal path is tested on the broker)


def test_svg_is_deterministic_and_labelled():
    from services.workbench.charts import svg

    fig = F.Figure("k", "Denials by payer", "Stacked bars: two payers", "stacked", "day", "denials", ("2026-04-01",),
                   (F.Series("MCR01", (3,)), F.Series("BCX22", (1,))), ("day",), (("2026-04-01",),))
    a = svg(fig)
    assert a == svg(F.Figure(**{**fig.__dict__}))
    text = a.decode()
    assert "<title>Denials by payer</title>" in text and "Stacked bars: two payers" in text and "MCR01" in text
