"""The dashboard's figures, as plain data (no Django, no chart library): what a chart draws
and the same numbers as a table (shown under the chart and served as CSV).

The SQL read-model queries in ``services.workbench.dashboard`` GROUP BY in the database and
hand their few grouped rows to the shaping functions here (pivot, periods, buckets, rates),
which are unit-tested with hand-computed expectations. Aggregates only: payer ids
(organisations), CARC groups and codes, work-item kinds, counts and dollars; never a
patient, a member id or clinical text."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

Number = int | Decimal


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Number, ...]


@dataclass(frozen=True)
class Figure:
    """One chart: ``categories`` along the x axis (or y for ``hbar``), one or more ``series``
    stacked on them; ``columns``/``rows`` are the same figures as an accessible table."""

    key: str
    title: str
    description: str  # one sentence: the chart's alternative text
    kind: str  # "stacked" (vertical stacked bars) | "hbar" (horizontal bars, one series)
    x_label: str
    y_label: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]
    note: str = ""
    totals: dict = field(default_factory=dict, compare=False)  # headline numbers (tests, page summary)

    @property
    def empty(self) -> bool:
        return not self.rows

    def csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(self.columns)
        for row in self.rows:
            w.writerow([_cell(v) for v in row])
        return out.getvalue()


def _cell(v) -> str:
    if isinstance(v, Decimal):
        return f"{v:.2f}"
    return "" if v is None else str(v)


# --- periods ------------------------------------------------------------------------------

DAY, WEEK, MONTH = "day", "week", "month"


def period_for(first: date | None, last: date | None) -> str:
    """Bars per day for up to a month of data, per week up to a year, else per month."""
    if first is None or last is None:
        return DAY
    span = (last - first).days
    return DAY if span <= 31 else WEEK if span <= 366 else MONTH


def period_start(d: date | datetime, period: str) -> date:
    """The first day of the period holding ``d`` (weeks start on Monday, as SQL's week trunc)."""
    day = d.date() if isinstance(d, datetime) else d
    if period == DAY:
        return day
    if period == WEEK:
        return day - timedelta(days=day.weekday())
    if period == MONTH:
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def period_label(d: date, period: str) -> str:
    return d.strftime("%Y-%m") if period == MONTH else d.isoformat()


# --- pivots -------------------------------------------------------------------------------


def pivot(rows: Iterable[tuple[str, str, Number]], categories: Sequence[str] | None = None,
          names: Sequence[str] | None = None) -> tuple[tuple[str, ...], tuple[Series, ...]]:
    """(category, series name, value) rows -> categories and one series per name, zero
    where a pair has no row. Orders: as given, else sorted; a pair seen twice is summed."""
    cells: dict[tuple[str, str], Number] = {}
    for cat, name, value in rows:
        cells[(cat, name)] = cells.get((cat, name), 0) + value
    cats = tuple(categories) if categories is not None else tuple(sorted({c for c, _ in cells}))
    ns = tuple(names) if names is not None else tuple(sorted({n for _, n in cells}))
    return cats, tuple(Series(n, tuple(cells.get((c, n), 0) for c in cats)) for n in ns)


def top_names(rows: Iterable[tuple[str, str, Number]], limit: int, other: str = "other") -> list[tuple[str, str, Number]]:
    """Keep the ``limit`` largest series (by total) and fold the rest into ``other`` so a
    chart stays readable; the table keeps every name."""
    rows = list(rows)
    totals: dict[str, Number] = {}
    for _, name, v in rows:
        totals[name] = totals.get(name, 0) + v
    keep = {n for n, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]}
    return [(c, n if n in keep else other, v) for c, n, v in rows]


# --- buckets ------------------------------------------------------------------------------

AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (("0-7", 7), ("8-30", 30), ("31-60", 60), ("61-90", 90), ("91+", None))


def age_days(created_at: datetime, now: datetime) -> int:
    return max(0, (now - created_at).days)


def age_bucket(days: int) -> str:
    for label, upper in AGE_BUCKETS:
        if upper is None or days <= upper:
            return label
    return AGE_BUCKETS[-1][0]


def age_cutoffs(now: datetime) -> list[tuple[str, datetime | None]]:
    """For SQL: an item is in bucket ``label`` when ``created_at > cutoff`` (the first such
    bucket wins); ``age_days(c, now) <= upper`` exactly when ``c > now - (upper + 1) days``."""
    return [(label, None if upper is None else now - timedelta(days=upper + 1)) for label, upper in AGE_BUCKETS]


def deadline_cutoffs(today: date, buckets: Sequence[tuple[str, int | None]]) -> list[tuple[str, date | None]]:
    """For SQL: a deadline is in bucket ``label`` when ``deadline <= cutoff`` (first wins);
    days left = deadline - today, so ``days <= upper`` exactly when ``deadline <= today + upper``."""
    return [(label, None if upper is None else today + timedelta(days=upper)) for label, upper in buckets]


# --- rates --------------------------------------------------------------------------------

WON = ("overturned", "partially_overturned")
DECIDED = WON + ("upheld",)


def success_rate(counts: dict[str, int]) -> Decimal | None:
    """Overturned or partially overturned over decided (withdrawn appeals decide nothing);
    None when nothing was decided. A fraction rounded to 4 places."""
    decided = sum(counts.get(k, 0) for k in DECIDED)
    if not decided:
        return None
    return (Decimal(sum(counts.get(k, 0) for k in WON)) / decided).quantize(Decimal("0.0001"))


def automation_rate(auto: int, learned: int, review: int) -> Decimal | None:
    total = auto + learned + review
    return None if not total else (Decimal(auto + learned) / total).quantize(Decimal("0.0001"))


def percent(rate: Decimal | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"
