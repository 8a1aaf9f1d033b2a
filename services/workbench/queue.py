"""The coding review queue's query: filters, sorts and keyset (seek) pagination.

A page is found by seeking past the last row of the previous page in the sort's index
(``WHERE (sort, id) > (last sort value, last id) ORDER BY sort, id LIMIT 51``), never by
OFFSET, so page 2,000 costs what page 2 costs; the item count is capped (``COUNT`` over at
most 1,001 rows), never a ``COUNT(*)`` over the whole queue. Every sort ends with the
encounter id, so the order is total and a cursor is exact. The reason filter is an
``EXISTS`` probe into the one-row-per-reason table (unique on item + code). Each sort has an
index on ``(status, sort columns..., encounter_id)`` (models.ReviewItem.Meta).

A sort is a list of *segments*: rows with no date of service (the encounter has not been
projected yet) come after the dated ones whatever the direction, in encounter id order, so
the date sorts stay total on SQLite and PostgreSQL alike (they disagree on where NULLs go).

No HTTP here: ``queue_page`` takes the query parameters and returns the rows and cursors, so
its query count is unit-tested without a broker (the view adds the access audit)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from services.workbench.models import ReviewItem, ReviewItemReason, ReviewStatus

PAGE_SIZE = 50
COUNT_CAP = 1000
LIST_FIELDS = ("encounter_id", "encounter_version", "routed_at", "status", "primary_reason", "reason_codes", "confidence",
               "payer_id", "date_of_service")


@dataclass(frozen=True)
class Segment:
    where: Q
    columns: tuple[str, ...]  # the last is always encounter_id
    desc: bool


def _dated(desc: bool) -> list[Segment]:
    return [Segment(Q(date_of_service__isnull=False), ("date_of_service", "encounter_id"), desc),
            Segment(Q(date_of_service__isnull=True), ("encounter_id",), False)]


SORTS: dict[str, list[Segment]] = {
    "age": [Segment(Q(), ("routed_at", "encounter_id"), False)],
    "-age": [Segment(Q(), ("routed_at", "encounter_id"), True)],
    "dos": _dated(False),
    "-dos": _dated(True),
    "payer": [Segment(Q(), ("payer_id", "routed_at", "encounter_id"), False)],
    "confidence": [Segment(Q(), ("confidence", "encounter_id"), False)],
    "-confidence": [Segment(Q(), ("confidence", "encounter_id"), True)],
}
_PARSE = {"routed_at": datetime.fromisoformat, "date_of_service": date.fromisoformat, "confidence": float,
          "payer_id": str, "encounter_id": str}


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def encode_cursor(segment: int, values: tuple) -> str:
    raw = json.dumps([segment, *[v.isoformat() if isinstance(v, (date, datetime)) else v for v in values]])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, segments: list[Segment]) -> tuple[int, tuple] | None:
    """A cursor from a link; anything malformed (hand-edited URL) means the first page."""
    if not text:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        seg, values = int(raw[0]), raw[1:]
        cols = segments[seg].columns
        if seg < 0 or len(values) != len(cols):
            return None
        return seg, tuple(_PARSE[c](v) for c, v in zip(cols, values))
    except (ValueError, TypeError, IndexError, KeyError, json.JSONDecodeError):
        return None


def _beyond(columns: tuple[str, ...], values: tuple, desc: bool) -> Q:
    """Rows strictly after ``values`` in the order of ``columns`` (all asc or all desc),
    written as ``c0 >= v0 AND (c0 > v0 OR (...))`` so the first column bounds the index range."""
    ge, gt = ("lte", "lt") if desc else ("gte", "gt")
    c, v = columns[0], values[0]
    if len(columns) == 1:
        return Q(**{f"{c}__{gt}": v})
    return Q(**{f"{c}__{ge}": v}) & (Q(**{f"{c}__{gt}": v}) | (Q(**{c: v}) & _beyond(columns[1:], values[1:], desc)))


@dataclass
class QueuePage:
    rows: list[ReviewItem]
    sort: str
    number: int
    count: int  # capped at COUNT_CAP + 1
    next_cursor: str | None = None
    previous_cursor: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def count_text(self) -> str:
        return f"more than {COUNT_CAP:,}" if self.count > COUNT_CAP else str(self.count)


def filtered(params, now: datetime) -> QuerySet:
    """The queue's filters (status, reason, payer, date of service range, minimum age)."""
    items = ReviewItem.objects.filter(status=params.get("status") or ReviewStatus.OPEN)
    if params.get("reason"):
        items = items.filter(Exists(ReviewItemReason.objects.filter(item_id=OuterRef("pk"), code=params["reason"])))
    if params.get("payer"):
        items = items.filter(payer_id=params["payer"])
    if _date(params.get("dos_from")):
        items = items.filter(date_of_service__gte=_date(params["dos_from"]))
    if _date(params.get("dos_to")):
        items = items.filter(date_of_service__lte=_date(params["dos_to"]))
    try:
        min_age_days = int(params.get("min_age_days") or 0)
    except ValueError:
        min_age_days = 0
    if min_age_days > 0:
        items = items.filter(routed_at__lte=now - timedelta(days=min_age_days))
    return items


def _fetch(items: QuerySet, seg: Segment, after: tuple | None, backwards: bool, limit: int) -> list[ReviewItem]:
    desc = seg.desc != backwards
    qs = items.filter(seg.where)
    if after is not None:
        qs = qs.filter(_beyond(seg.columns, after, desc))
    order = [("-" if desc else "") + c for c in seg.columns]
    return list(qs.order_by(*order).only(*LIST_FIELDS)[:limit])


def _key(seg: Segment, row: ReviewItem) -> tuple:
    return tuple(getattr(row, c) for c in seg.columns)


def queue_page(params, now: datetime) -> QueuePage:
    """One page of the queue: ``after`` (next) or ``before`` (previous) cursors from links."""
    sort = params.get("sort", "age") if params.get("sort", "age") in SORTS else "age"
    segments = SORTS[sort]
    items = filtered(params, now)
    try:
        number = max(1, int(params.get("n") or 1))
    except ValueError:
        number = 1
    before = decode_cursor(params.get("before"), segments)
    after = None if before else decode_cursor(params.get("after"), segments)
    cursor = before or after
    want = PAGE_SIZE + 1
    got: list[tuple[int, ReviewItem]] = []
    if before is None:
        start = after[0] if after else 0
        for s in range(start, len(segments)):
            rows = _fetch(items, segments[s], after[1] if (after and s == start) else None, False, want - len(got))
            got += [(s, r) for r in rows]
            if len(got) >= want:
                break
    else:
        for s in range(before[0], -1, -1):
            rows = _fetch(items, segments[s], before[1] if s == before[0] else None, True, want - len(got))
            got += [(s, r) for r in rows]
            if len(got) >= want:
                break
    more = len(got) > PAGE_SIZE
    got = got[:PAGE_SIZE]
    if before is not None:
        got.reverse()
    if cursor is None:
        number = 1
    page = QueuePage(rows=[r for _, r in got], sort=sort, number=number,
                     count=items.values("pk")[:COUNT_CAP + 1].count())
    if got:
        first_s, first = got[0]
        last_s, last = got[-1]
        has_next = more if before is None else True
        has_previous = (cursor is not None) if before is None else more
        if has_next:
            page.next_cursor = encode_cursor(last_s, _key(segments[last_s], last))
        if has_previous:
            page.previous_cursor = encode_cursor(first_s, _key(segments[first_s], first))
    return page


def refresh_planner_stats() -> None:
    """Give the query planner row statistics for the queue's tables (without them SQLite picks
    the range index of a filter and sorts every match instead of walking the sort's index).
    The projector runs this every few minutes; on PostgreSQL autovacuum does it too."""
    from django.db import connection

    tables = [ReviewItem._meta.db_table, ReviewItemReason._meta.db_table]
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("PRAGMA analysis_limit=2000")  # sampled: milliseconds, whatever the table size
            for t in tables:
                cur.execute(f'ANALYZE "{t}"')
        elif connection.vendor == "postgresql":
            cur.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))
