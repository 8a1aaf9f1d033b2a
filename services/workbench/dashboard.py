"""The dashboard's read-model queries: each GROUP BYs in the database (indexed columns, a few
grouped rows back, no loop over items) and shapes its rows with ``services.workbench.figures``.

What each figure counts, so it agrees with the Prometheus metrics:

- denials: the adjudicator's first work item for each actionable decision (level 0, not the
  write-off opened when the last appeal level was upheld) plus the actionable decisions it
  recorded as no-action (reversals, predeterminations); by CARC group and by payer, per
  period of remittance date = ``claimflow_denials_total`` by (payer, group);
- dollars at risk: denied dollars of the denial work items still open on the ledger (open or
  filed and waiting for the payer), by days to deadline = ``claimflow_appeal_dollars_at_risk``;
- appeal success: decided outcomes of filed appeals (the ones the overturn model learned),
  by payer and CARC; by outcome = ``claimflow_appeal_outcomes_total``;
- coding automation: the coder's outcome per encounter (coded by the rules, by learned rules,
  sent to review) per period, from the coded-encounter and review timeline entries
  = ``claimflow_coding_outcomes_total``; codings by a person are shown beside them;
- worklist age: open work items by days since they were opened and kind (filed appeals
  waiting for the payer apart); the denial ones = ``claimflow_appeal_backlog_items``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db.models import Case, CharField, Count, Max, Min, Q, Sum, Value, When
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from services.workbench import figures as F
from services.workbench.figures import Figure, Series
from services.workbench.models import AppealOutcomeRecord, NoActionRecord, TimelineEvent, WorkItem, WorkStatus

ZERO = Decimal("0.00")
ACTIONABLE = ("appeal", "correct_and_resubmit", "corrected_claim_with_modifier", "verify_duplicate", "rebill_other_payer",
              "manual_review", "write_off")  # services.adjudicator.rules.ACTIONABLE (a unit test checks they agree)
ON_LEDGER = (WorkStatus.OPEN, WorkStatus.FILED)
TRUNC = {F.DAY: TruncDay, F.WEEK: TruncWeek, F.MONTH: TruncMonth}
MAX_SERIES = 6
KIND_LABELS = {"appeal": "appeal", "corrected_claim": "corrected claim", "verify_duplicate": "verify duplicate",
               "rebill_other_payer": "rebill other payer", "write_off_approval": "write-off approval",
               "manual_review": "manual review", "underpayment": "underpayment"}
FILED_LABEL = "filed, awaiting payer"


def _money(v) -> Decimal:
    """A SUM of a decimal column as dollars (SQLite gives back 1731 for 1731.00)."""
    return Decimal(v or 0).quantize(Decimal("0.01"))


def first_denials():
    """Work items that are the adjudicator's first answer to a denial decision."""
    return WorkItem.objects.filter(source="denial", level_index=0).exclude(
        Q(kind="write_off_approval") & ~Q(disposition="write_off"))


def _as_date(v) -> date:
    return v.date() if isinstance(v, datetime) else v


def _group_of(reason_codes: str) -> str:
    first = (reason_codes.split() or [""])[0]
    return first.split("-", 1)[0] if "-" in first else "CLP02"


def denial_rows(period: str | None = None) -> tuple[str, list[tuple[date, str, str, int, Decimal]]]:
    """(period start, payer, CARC group, count, denied dollars) grouped in SQL."""
    items = first_denials()
    no_action = NoActionRecord.objects.filter(disposition__in=ACTIONABLE)
    if period is None:
        a = items.aggregate(lo=Min("remittance_date"), hi=Max("remittance_date"))
        b = no_action.aggregate(lo=Min("decided_at"), hi=Max("decided_at"))
        los = [d for d in (a["lo"], _as_date(b["lo"]) if b["lo"] else None) if d]
        his = [d for d in (a["hi"], _as_date(b["hi"]) if b["hi"] else None) if d]
        period = F.period_for(min(los) if los else None, max(his) if his else None)
    trunc = TRUNC[period]
    rows = [(_as_date(r["p"]), r["payer_id"], r["carc_group"] or "CLP02", r["n"], _money(r["dollars"]))
            for r in items.annotate(p=trunc("remittance_date")).values("p", "payer_id", "carc_group")
            .annotate(n=Count("work_item_id"), dollars=Sum("denied_amount")).order_by()]
    # bookkeeping-only postings (reversals, predeterminations): few rows, grouped by their codes
    rows += [(_as_date(r["p"]), r["payer_id"], _group_of(r["reason_codes"]), r["n"], _money(r["dollars"]))
             for r in no_action.annotate(p=trunc("decided_at")).values("p", "payer_id", "reason_codes")
             .annotate(n=Count("record_id"), dollars=Sum("amount")).order_by()]
    return period, rows


def denials_over_time(by: str) -> Figure:
    """Denials per period, stacked by CARC group (``by="group"``) or by payer (``by="payer"``)."""
    period, rows = denial_rows()
    idx = 2 if by == "group" else 1
    cells: dict[tuple[date, str], list] = {}
    for r in rows:
        c = cells.setdefault((r[0], r[idx]), [0, ZERO])
        c[0] += r[3]
        c[1] += r[4]
    periods = sorted({p for p, _ in cells})
    labels = [F.period_label(p, period) for p in periods]
    flat = [(F.period_label(p, period), name, n) for (p, name), (n, _) in cells.items()]
    chart_rows = F.top_names(flat, MAX_SERIES) if by == "payer" else flat
    cats, series = F.pivot(chart_rows, labels)
    what = "CARC group" if by == "group" else "payer"
    table = tuple((F.period_label(p, period), name, n, d) for (p, name), (n, d) in sorted(cells.items()))
    totals: dict[str, int] = {}
    for (_, name), (n, _) in cells.items():
        totals[name] = totals.get(name, 0) + n
    return Figure(
        key=f"denials-by-{by}", title=f"Denials by {what} over time",
        description=f"Stacked bars: denials per {period} of remittance date, by {what}; "
                    f"{sum(totals.values())} denials in all" + (", largest " + max(totals, key=totals.get) if totals else ""),
        kind="stacked", x_label=f"{period} of remittance", y_label="denials", categories=cats, series=series,
        columns=(period, what, "denials", "denied dollars"), rows=table, totals=totals)


def dollars_at_risk(today: date | None = None) -> Figure:
    """Denied dollars on open denial work items, by days to deadline (the adjudicator's buckets)."""
    from services.adjudicator.appeals import DEADLINE_BUCKETS, NO_DEADLINE

    today = today or timezone.localdate()
    whens = [When(deadline__isnull=True, then=Value(NO_DEADLINE))]
    whens += [When(deadline__lte=cut, then=Value(label)) for label, cut in F.deadline_cutoffs(today, DEADLINE_BUCKETS) if cut]
    last = DEADLINE_BUCKETS[-1][0]
    got = {r["bucket"]: (r["n"], _money(r["dollars"])) for r in
           WorkItem.objects.filter(source="denial", status__in=ON_LEDGER)
           .annotate(bucket=Case(*whens, default=Value(last), output_field=CharField()))
           .values("bucket").annotate(n=Count("work_item_id"), dollars=Sum("denied_amount")).order_by()}
    labels = [label for label, _ in DEADLINE_BUCKETS] + [NO_DEADLINE]
    table = tuple((label, got.get(label, (0, ZERO))[0], got.get(label, (0, ZERO))[1]) for label in labels)
    total = sum((d for _, _, d in table), ZERO)
    return Figure(
        key="dollars-at-risk", title="Dollars at risk by deadline",
        description=f"Bars: denied dollars on open work items by days left to the appeal deadline; {total:.2f} in all",
        kind="stacked", x_label="days to deadline", y_label="dollars", categories=tuple(labels),
        series=(Series("denied dollars", tuple(d for _, _, d in table)),),
        columns=("days to deadline", "open items", "denied dollars"), rows=table,
        totals={label: d for label, _, d in table})


def appeal_success() -> Figure:
    """Success rate of decided appeals by payer and CARC (withdrawn ones decide nothing)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    by_outcome: dict[str, int] = {}
    for r in (AppealOutcomeRecord.objects.filter(counted=True).values("payer_id", "reason_code", "outcome")
              .annotate(n=Count("outcome_id")).order_by()):
        counts.setdefault((r["payer_id"], r["reason_code"]), {})[r["outcome"]] = r["n"]
        by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + r["n"]
    ordered = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    table = tuple((payer, carc, sum(c.get(k, 0) for k in F.DECIDED), c.get("overturned", 0), c.get("partially_overturned", 0),
                   c.get("upheld", 0), F.percent(F.success_rate(c))) for (payer, carc), c in ordered)
    chart = [(f"{payer} · CARC {carc} (n={n})", F.success_rate(c)) for ((payer, carc), c), (_, _, n, *_) in zip(ordered, table)]
    chart = [(label, rate) for label, rate in chart if rate is not None][:12]
    overall = F.success_rate(by_outcome)
    return Figure(
        key="appeal-success", title="Appeal success rate by payer and CARC",
        description=f"Horizontal bars: share of decided appeals overturned (fully or partly) per payer and CARC; "
                    f"overall {F.percent(overall) or 'none decided yet'}",
        kind="hbar", x_label="overturned (%)", y_label="", categories=tuple(label for label, _ in chart),
        series=(Series("success rate", tuple(rate * 100 for _, rate in chart)),),
        columns=("payer", "CARC", "decided", "overturned", "partially overturned", "upheld", "success rate"), rows=table,
        totals=by_outcome)


def coding_automation() -> Figure:
    """The coder's outcome per encounter per period: coded by the rules, by learned rules, or
    sent to review; and how many a person coded."""
    base = TimelineEvent.objects.filter(kind__in=("coded", "review"))
    span = base.aggregate(lo=Min("at"), hi=Max("at"))
    period = F.period_for(_as_date(span["lo"]) if span["lo"] else None, _as_date(span["hi"]) if span["hi"] else None)
    how = Case(When(kind="review", then=Value("review")), When(actor="rule", then=Value("rules")),
               When(actor="learned", then=Value("learned")), default=Value("person"), output_field=CharField())
    cells: dict[tuple[date, str], int] = {}
    for r in (base.annotate(p=TRUNC[period]("at"), how=how).values("p", "how").annotate(n=Count("event_key")).order_by()):
        key = (_as_date(r["p"]), r["how"])
        cells[key] = cells.get(key, 0) + r["n"]
    periods = sorted({p for p, _ in cells})
    names = (("rules", "coded by rules"), ("learned", "coded by learned rules"), ("review", "sent to review"))
    cats, series = F.pivot([(F.period_label(p, period), dict(names)[h], n) for (p, h), n in cells.items() if h != "person"],
                           [F.period_label(p, period) for p in periods], [label for _, label in names])
    table = []
    for p in periods:
        auto, learned, review, person = (cells.get((p, h), 0) for h in ("rules", "learned", "review", "person"))
        table.append((F.period_label(p, period), auto, learned, review, person, F.percent(F.automation_rate(auto, learned, review))))
    totals = {h: sum(n for (_, hh), n in cells.items() if hh == h) for h in ("rules", "learned", "review", "person")}
    rate = F.automation_rate(totals["rules"], totals["learned"], totals["review"])
    return Figure(
        key="coding-automation", title="Coding automation over time",
        description=f"Stacked bars: encounters per {period} coded by the rules, by learned rules, or sent to review; "
                    f"automation rate {F.percent(rate) or 'n/a'}",
        kind="stacked", x_label=period, y_label="encounters", categories=cats, series=series,
        columns=(period, "coded by rules", "coded by learned rules", "sent to review", "coded by a person", "automation rate"),
        rows=tuple(table), totals=totals)


def worklist_age(now: datetime | None = None) -> Figure:
    """Open work items by days since they were opened, stacked by kind (filed appeals apart)."""
    now = now or timezone.now()
    cut = F.age_cutoffs(now)
    last = F.AGE_BUCKETS[-1][0]
    bucket = Case(*[When(created_at__gt=c, then=Value(label)) for label, c in cut if c is not None],
                  default=Value(last), output_field=CharField())
    cells: dict[tuple[str, str], list] = {}
    for r in (WorkItem.objects.filter(status__in=ON_LEDGER).annotate(bucket=bucket)
              .values("bucket", "kind", "status", "source").annotate(n=Count("work_item_id"), dollars=Sum("recoverable_amount"))
              .order_by()):
        name = FILED_LABEL if r["status"] == WorkStatus.FILED else KIND_LABELS.get(r["kind"], r["kind"])
        c = cells.setdefault((r["bucket"], name), [0, ZERO, 0])
        c[0] += r["n"]
        c[1] += _money(r["dollars"])
        c[2] += r["n"] if r["source"] == "denial" else 0
    labels = [label for label, _ in F.AGE_BUCKETS]
    names = [n for n in list(KIND_LABELS.values()) + [FILED_LABEL] if any(k[1] == n for k in cells)]
    cats, series = F.pivot([(b, n, c[0]) for (b, n), c in cells.items()], labels, names)
    table = tuple((b, n, cells[(b, n)][0], cells[(b, n)][1]) for b in labels for n in names if (b, n) in cells)
    open_denials = sum(c[2] for c in cells.values())
    return Figure(
        key="worklist-age", title="Worklist age",
        description=f"Stacked bars: open work items by days since opened, by kind; {sum(c[0] for c in cells.values())} open",
        kind="stacked", x_label="days open", y_label="work items", categories=cats, series=series,
        columns=("days open", "kind", "items", "recoverable dollars"), rows=table,
        totals={"open_items": sum(c[0] for c in cells.values()), "open_denial_items": open_denials})


# key -> (builder, roles allowed): a coder sees the coding chart only (their own work, no money)
def registry():
    from services.workbench.roles import ADMIN, BILLER, CODER, SUPERVISOR

    money = (BILLER, SUPERVISOR, ADMIN)
    return {
        "denials-by-group": (lambda: denials_over_time("group"), money),
        "denials-by-payer": (lambda: denials_over_time("payer"), money),
        "dollars-at-risk": (dollars_at_risk, money),
        "appeal-success": (appeal_success, money),
        "coding-automation": (coding_automation, (CODER, BILLER, SUPERVISOR, ADMIN)),
        "worklist-age": (worklist_age, money),
    }

