"""The review queue's query on a real SQLite read model: keyset paging visits every item
exactly once in every sort (dated and undated items alike, forwards and backwards), the
filters select what they say, and a page costs the same number of queries whatever its size
or depth (no N+1: counted with Django's CaptureQueriesContext, not timed)."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta, timezone

import pytest

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
REASONS = ["DX_HEADER_CODE", "EM_UNSUPPORTED", "PROC_UNKNOWN_CODE"]


def _load(n: int, seed: int = 7) -> None:
    from services.workbench.models import ReviewItem, ReviewItemReason

    rng = random.Random(seed)
    items, reasons = [], []
    for i in range(n):
        codes = rng.sample(REASONS, k=rng.randint(1, 2))
        # few distinct values so ties are common: the encounter id must break them
        items.append(ReviewItem(
            encounter_id=f"ENC-Q-{i:04d}", encounter_version=1, routed_at=NOW - timedelta(days=rng.randint(0, 9)),
            status="open" if i % 10 else "coded", primary_reason=codes[0], reason_codes=" ".join(codes),
            reasons=[{"code": c, "message": "m"} for c in codes], confidence=rng.choice([0.2, 0.5, 0.8]),
            coder_version="t", payer_id=f"P{rng.randint(0, 3)}",
            date_of_service=None if i % 7 == 0 else date(2026, 5, 1) + timedelta(days=rng.randint(0, 5))))
        reasons += [ReviewItemReason(item_id=f"ENC-Q-{i:04d}", code=c) for c in codes]
    ReviewItem.objects.bulk_create(items)
    ReviewItemReason.objects.bulk_create(reasons)


def _walk(params: dict, backwards_check: bool = True) -> list[str]:
    from services.workbench.queue import queue_page

    seen, cursor, pages = [], None, []
    while True:
        page = queue_page({**params, **({"after": cursor} if cursor else {})}, NOW)
        pages.append(page)
        seen += [r.encounter_id for r in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
        assert len(pages) < 100
    if backwards_check and len(pages) > 1:  # previous links lead back through the same pages
        page = pages[-1]
        for expected in reversed(pages[:-1]):
            page = queue_page({**params, "before": page.previous_cursor}, NOW)
            assert [r.encounter_id for r in page.rows] == [r.encounter_id for r in expected.rows]
        assert page.previous_cursor is None
    return seen


def _expected(params: dict, key) -> list[str]:
    from services.workbench.queue import filtered

    return [r.encounter_id for r in sorted(filtered(params, NOW), key=key)]


@pytest.mark.parametrize("sort,key", [
    ("age", lambda r: (r.routed_at, r.encounter_id)),
    ("-age", lambda r: (-r.routed_at.timestamp(), [-ord(c) for c in r.encounter_id])),
    ("payer", lambda r: (r.payer_id, r.routed_at, r.encounter_id)),
    ("confidence", lambda r: (r.confidence, r.encounter_id)),
    ("-confidence", lambda r: (-r.confidence, [-ord(c) for c in r.encounter_id])),
    ("dos", lambda r: (r.date_of_service is None, r.date_of_service or date.min, r.encounter_id)),
    ("-dos", lambda r: (r.date_of_service is None, -(r.date_of_service or date.min).toordinal(),
                        [-ord(c) for c in r.encounter_id] if r.date_of_service else r.encounter_id)),
])
def test_keyset_paging_visits_every_item_once_in_sort_order(db, sort, key):
    _load(260)
    got = _walk({"sort": sort})
    assert got == _expected({"sort": sort}, key)
    assert len(got) == len(set(got)) == 234  # the open ones (every tenth is coded)


def test_filters_select_what_they_say(db):
    from services.workbench.models import ReviewItem

    _load(260)
    by_reason = _walk({"reason": "EM_UNSUPPORTED"})
    assert by_reason and all("EM_UNSUPPORTED" in ReviewItem.objects.get(pk=e).reason_codes for e in by_reason)
    assert len(by_reason) == ReviewItem.objects.filter(status="open", reason_codes__contains="EM_UNSUPPORTED").count()
    by_payer = _walk({"payer": "P2", "sort": "dos"})
    assert set(by_payer) == set(ReviewItem.objects.filter(status="open", payer_id="P2").values_list("pk", flat=True))
    dated = _walk({"dos_from": "2026-05-02", "dos_to": "2026-05-03", "sort": "-dos"})
    assert set(dated) == set(ReviewItem.objects.filter(status="open", date_of_service__range=(date(2026, 5, 2), date(2026, 5, 3)))
                             .values_list("pk", flat=True))
    old = _walk({"min_age_days": "5"})
    assert set(old) == set(ReviewItem.objects.filter(status="open", routed_at__lte=NOW - timedelta(days=5)).values_list("pk", flat=True))
    assert len(_walk({"status": "coded"})) == 26
    assert _walk({"payer": "NO-SUCH"}) == []


def test_count_is_capped_and_a_hand_edited_cursor_means_the_first_page(db):
    from services.workbench import queue

    _load(30)
    assert queue.queue_page({}, NOW).count_text == "27"
    first = queue.queue_page({}, NOW)
    for bad in ("zzz", "W10", queue.encode_cursor(0, ("x",)), queue.encode_cursor(5, ("a", "b"))):
        page = queue.queue_page({"after": bad}, NOW)
        assert [r.encounter_id for r in page.rows] == [r.encounter_id for r in first.rows]


def test_count_text_above_the_cap(db, monkeypatch):
    from services.workbench import queue

    _load(60)
    monkeypatch.setattr(queue, "COUNT_CAP", 40)
    assert queue.queue_page({}, NOW).count_text == "more than 40"


def _page_queries(params: dict) -> tuple[int, str]:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.http import QueryDict
    from django.template.loader import render_to_string
    from django.test.utils import CaptureQueriesContext

    from services.workbench.views_review import queue_context

    user, _ = User.objects.get_or_create(username="q-coder")
    user.groups.set(Group.objects.filter(name="coder"))
    user = User.objects.get(pk=user.pk)  # fresh: roles not cached
    q = QueryDict(mutable=True)
    q.update(params)
    with CaptureQueriesContext(connection) as ctx:
        html = render_to_string("workbench/queue.html", queue_context(q, user))
    return len(ctx.captured_queries), html


def test_a_page_costs_a_fixed_number_of_queries_whatever_its_size_or_depth(db):
    _load(4)  # the first is coded: 3 open
    small, html = _page_queries({})
    assert html.count('class="item-link"') == 3
    from services.workbench.models import ReviewItem, ReviewItemReason

    ReviewItemReason.objects.all().delete()
    ReviewItem.objects.all().delete()
    _load(400, seed=9)
    full, html = _page_queries({"reason": "DX_HEADER_CODE", "sort": "payer"})
    assert html.count('class="item-link"') == 50
    # roles (1), page rows (1), capped count (1): the same for 3 rows or 50
    assert small == full == 3
    nxt = re.search(r'href="\?([^"]*)" id="next-page"', html).group(1).replace("&amp;", "&")
    params = dict(p.split("=", 1) for p in nxt.split("&"))
    deeper, html = _page_queries(params)
    assert deeper == 3 and "page 2" in html and 'id="previous-page"' in html
    # the dated sort on its last page reaches into the undated segment: one more query, still no N+1
    from services.workbench.queue import queue_page

    last = None
    page = queue_page({"sort": "dos"}, NOW)
    while page.next_cursor:
        last = page.next_cursor
        page = queue_page({"sort": "dos", "after": last}, NOW)
    count, html = _page_queries({"sort": "dos", "after": last})
    assert count <= 4 and html.count('class="item-link"') == len(page.rows)
