"""Dead letters as the operator sees them: coordinates, the replay guard, listing rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from claimflow import topics
from claimflow.dlq import Stage, dead_letter_headers
from claimflow.models import DlqActionKind
from services.ops import dlq_logic as logic

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _letter(offset: int, service="coder", stage=Stage.DECODE, error="OversizedValue", source=topics.ENCOUNTERS.name,
            age=timedelta(hours=2), value=b"\xc3\x01body", extra=()) -> logic.DeadLetter:
    headers = dead_letter_headers(topic=source, partition=0, offset=100 + offset, service=service, stage=stage, error_class=error,
                                  error_message="m", original_headers=[("traceparent", b"00-abc")], failed_at=NOW - age)
    return logic.DeadLetter(logic.Coordinates(f"dlq.{service}.v1", 0, offset), b"ENC1", value, headers + list(extra), 0)


def test_coordinates_parse_both_spellings():
    assert str(logic.Coordinates.parse("dlq.coder.v1:0:12")) == "dlq.coder.v1:0:12"
    assert str(logic.Coordinates.parse("dlq.payer-sim.v1[2]@7")) == "dlq.payer-sim.v1:2:7"
    with pytest.raises(ValueError):
        logic.Coordinates.parse("dlq.coder.v1@12")


def test_replay_headers_drop_the_explanation_and_say_where_from():
    d = _letter(3)
    hs = dict(d.replay_headers())
    assert hs == {"traceparent": b"00-abc", logic.REPLAY_HEADER: b"dlq.coder.v1:0:3"}


def test_a_dead_letter_with_an_action_is_not_replayed_again():
    letters = [_letter(i) for i in range(4)]
    done = logic.action_for(letters[1], DlqActionKind.REPLAYED, "ops1", "fixed", NOW, "encounters.v1[0]@9")
    gone = logic.action_for(letters[2], DlqActionKind.DISCARDED, "ops1", "duplicate", NOW)
    plan = logic.plan_replay(letters, logic.acted_on([done, gone]), logic.Filters(service="coder"), limit=None)
    assert [str(d.at) for d in plan.replay] == ["dlq.coder.v1:0:0", "dlq.coder.v1:0:3"]
    assert [a.action for _, a in plan.already] == [DlqActionKind.REPLAYED, DlqActionKind.DISCARDED]


def test_limit_filters_and_unreplayable_letters():
    letters = [_letter(0), _letter(1, stage=Stage.VALIDATE, error="ValidationError"), _letter(2),
               _letter(3, source="file:remit.835"), _letter(4, value=None, extra=[("dlq.value.omitted", b"true")])]
    plan = logic.plan_replay(letters, {}, logic.Filters(stage="decode"), limit=1)
    assert [str(d.at) for d in plan.replay] == ["dlq.coder.v1:0:0"]
    assert [str(d.at) for d, _ in plan.refused] == ["dlq.coder.v1:0:3", "dlq.coder.v1:0:4"]
    assert "not a catalog topic" in plan.refused[0][1] and "too large" in plan.refused[1][1]
    only = logic.plan_replay(letters, {}, logic.Filters(coordinates=frozenset({"dlq.coder.v1:0:2"})), limit=None)
    assert [str(d.at) for d in only.replay] == ["dlq.coder.v1:0:2"]


def test_action_ids_are_deterministic_and_carry_no_content():
    d = _letter(5)
    a = logic.action_for(d, DlqActionKind.REPLAYED, "ops1", "fixed", NOW, "encounters.v1[0]@1")
    b = logic.action_for(d, DlqActionKind.REPLAYED, "ops2", "other words", NOW + timedelta(hours=1))
    assert a.action_id == b.action_id
    assert (a.source_topic, a.source_partition, a.source_offset) == (topics.ENCOUNTERS.name, 0, 105)
    assert b"body" not in repr(a.to_avro()).encode()


def test_list_rows_count_and_age_by_service_stage_class():
    letters = [_letter(0, age=timedelta(days=3)), _letter(1, age=timedelta(minutes=5)), _letter(2, service="scrubber", stage=Stage.RULES,
                                                                                                  error="KeyError", age=timedelta(hours=1))]
    actions = logic.acted_on([logic.action_for(letters[0], DlqActionKind.DISCARDED, "ops1", "dup", NOW)])
    rows = logic.list_rows(letters, actions, NOW)
    assert [(r.service, r.stage, r.error_class, r.open, r.replayed, r.discarded, r.oldest, r.newest) for r in rows] == [
        ("coder", "decode", "OversizedValue", 1, 0, 1, "5m", "5m"),
        ("scrubber", "rules", "KeyError", 1, 0, 0, "1h", "1h"),
    ]
    lines = logic.format_rows(rows)
    assert len({ln.index("OPEN") if i == 0 else None for i, ln in enumerate(lines)} - {None}) == 1
    # numbers right-aligned under their header: every row ends its OPEN cell where the header does
    end = lines[0].index("OPEN") + len("OPEN")
    assert all(ln[end - 1].isdigit() for ln in lines[1:])


def test_show_never_prints_the_value():
    d = _letter(7, value=b"\xc3\x01SECRET-NAME")
    text = "\n".join(logic.describe(d, None))
    assert "SECRET" not in text and "dlq.error.class = OversizedValue" in text and "dlq.coder.v1:0:7" in text
