"""The Processor's batched record loop in process, without a broker (issue #20 item 3):
poison input, validation failure, a rule that throws, a produce failure mid-batch and the
in-batch state overlay. The produce side is the only stand-in: topics that record what is
sent and resolve (or fail) each send's acknowledgement future, as aiokafka's would."""

from __future__ import annotations

import asyncio
import random

import pytest
from faust.events import Event
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from kafka.errors import KafkaTimeoutError

from claimflow import metrics, topics
from claimflow.codec import Codec
from claimflow.dlq import PoisonMessage, Stage
from claimflow.runtime import Forward, HandledOnlyConsumer, Output, Processor, Result, guard_topics, make_app
from claimflow.settings import Settings
from claimflow.staging import StagedTable
from tests.reliability.fuzz import invalid_record
from tests.unit.test_codec import sample_records

IN = topics.CLAIMS
OUT = topics.ADJUDICATIONS


class RecordingTopic:
    def __init__(self, name: str, sent: list, fail_on: set[int]):
        self.name, self.sent, self.fail_on = name, sent, fail_on

    async def send(self, key=None, value=None, headers=None, timestamp=None):
        fut = asyncio.get_running_loop().create_future()
        n = len(self.sent)
        self.sent.append((self.name, key, value, dict(headers or [])))
        if n in self.fail_on:
            fut.set_exception(KafkaTimeoutError())
        else:
            fut.set_result(n)
        return fut

    def get_topic_name(self) -> str:
        return self.name


@pytest.fixture
def shell(tmp_path):
    settings = Settings(data_dir=tmp_path, app_id_prefix="batch-test", table_store="memory://")
    app = make_app("payer-sim", settings)
    processor = Processor(app, "payer-sim", settings=settings)
    sent: list = []
    fail_on: set[int] = set()
    topics_by_name: dict[str, RecordingTopic] = {}

    def topic(spec):
        return topics_by_name.setdefault(spec.name, RecordingTopic(spec.name, sent, fail_on))

    processor.topic = topic
    processor.dlq = RecordingTopic(topics.DLQ_BY_SERVICE["payer-sim"].name, sent, fail_on)
    consumer = app.consumer
    assert isinstance(consumer, HandledOnlyConsumer)
    guard_topics(app, IN)
    return processor, consumer, sent, fail_on


def _claims(n: int):
    base = sample_records()["Claim"]
    return [base.model_copy(update={"claim_id": f"CF{i:04d}"}) for i in range(n)]


def _event(app, offset: int, value: bytes | None, key: bytes = b"k") -> Event:
    msg = ConsumerMessage(topic=IN.name, partition=0, offset=offset, timestamp=1.0, timestamp_type=0,
                          headers=[("h", b"1")], key=key, value=value, checksum=None, tp=TP(IN.name, 0))
    return Event(app, key, value, msg.headers, msg)


def _encoded(claims) -> list[bytes]:
    codec = Codec()
    return [codec.encode(IN.value, c.to_avro()) for c in claims]


def _handled(consumer, events) -> list[int]:
    return [e.message.offset for e in events if e.message in consumer._handled]


def _run(processor, events, handler, handle_batch=None):
    route = (IN, type(_claims(1)[0]), handler)
    asyncio.run(processor.process_batch(events, lambda _e: route, handle_batch))


async def forward(claim, event):
    return [Forward(OUT, claim.claim_id, b"out-" + claim.claim_id.encode())]


def test_poison_and_invalid_input_are_dead_lettered_with_their_bytes_and_the_rest_flows(shell):
    processor, consumer, sent, _ = shell
    app = processor.app
    good = _encoded(_claims(2))
    _, invalid = invalid_record("Claim", tuple(_claims(1)), random.Random(5))  # Avro-valid, contract-invalid
    events = [_event(app, 0, good[0]), _event(app, 1, b"\x00garbage"), _event(app, 2, None), _event(app, 3, invalid),
              _event(app, 4, good[1])]
    _run(processor, events, forward)
    dlq = [s for s in sent if s[0].startswith("dlq.")]
    outs = [s for s in sent if s[0] == OUT.name]
    assert [o[1] for o in outs] == [b"CF0000", b"CF0001"]
    by_offset = {int(h["dlq.source.offset"]): (v, h) for _, _, v, h in dlq}
    assert set(by_offset) == {1, 2, 3}
    assert by_offset[1][0] == b"\x00garbage" and by_offset[1][1]["dlq.stage"] == b"decode"
    assert by_offset[2][0] is None and by_offset[2][1]["dlq.error.class"] == b"NullValue"
    assert by_offset[3][0] == invalid and by_offset[3][1]["dlq.stage"] == b"validate"
    assert by_offset[3][1]["h"] == b"1", "original headers are kept"
    assert _handled(consumer, events) == [0, 1, 2, 3, 4]


def test_a_rule_that_throws_dead_letters_that_record_only_and_undoes_its_staged_writes(shell):
    processor, consumer, sent, _ = shell
    table = StagedTable({})
    claims = _claims(3)

    async def handler(claim, event):
        if claim.claim_id == "CF0001":
            table["CF0001"] = "staged by a record that then fails"
            raise ZeroDivisionError("boom")
        return Result([Forward(OUT, claim.claim_id, b"x")], lambda: table.__setitem__(claim.claim_id, "done"))

    async def failing_write(claim, event):
        def write():
            table["half"] = "written before the failure"
            raise KeyError("write step failed")
        return Result([Forward(OUT, claim.claim_id, b"y")], write)

    events = [_event(processor.app, i, v) for i, v in enumerate(_encoded(claims))]
    _run(processor, events, handler)
    dlq = [h for name, _, _, h in sent if name.startswith("dlq.")]
    assert len(dlq) == 1 and dlq[0]["dlq.stage"] == b"rules" and dlq[0]["dlq.error.class"] == b"ZeroDivisionError"
    assert dlq[0]["dlq.source.offset"] == b"1"
    assert [k for name, k, _, _ in sent if name == OUT.name] == [b"CF0000", b"CF0002"]
    assert table.table == {"CF0000": "done", "CF0002": "done"}
    assert _handled(consumer, events) == [0, 1, 2]

    sent.clear()
    more = [_event(processor.app, 10, _encoded(claims)[0])]
    _run(processor, more, failing_write)
    assert "half" not in table.table  # the failed write step left nothing behind
    assert [name for name, *_ in sent] == [topics.DLQ_BY_SERVICE["payer-sim"].name]


def test_produce_failure_mid_batch_marks_nothing_handled_and_writes_no_table(shell):
    processor, consumer, sent, fail_on = shell
    table = StagedTable({})
    claims = _claims(5)
    fail_on.add(2)  # the third send of the batch is never acknowledged

    async def handler(claim, event):
        return Result([Forward(OUT, claim.claim_id, b"x")], lambda: table.__setitem__(claim.claim_id, "emitted"))

    events = [_event(processor.app, i, v) for i, v in enumerate(_encoded(claims))]
    with pytest.raises(KafkaTimeoutError):
        _run(processor, events, handler)
    assert len(sent) == 5, "every output was sent before the acknowledgements were awaited"
    assert _handled(consumer, events) == [], "nothing is marked handled past an unacknowledged output"
    assert table.table == {}, "no table state is recorded for a batch whose outputs are not all acknowledged"
    # the redelivered batch goes through once the broker acknowledges
    fail_on.clear()
    sent.clear()
    _run(processor, events, handler)
    assert _handled(consumer, events) == [0, 1, 2, 3, 4] and len(table.table) == 5


def test_a_later_record_sees_an_earlier_records_table_effects_within_the_batch(shell):
    """The overlay: a running total (like MUE day units) and a duplicate check (like
    emitted-claims) across records of one batch, before anything is acknowledged."""
    processor, consumer, sent, _ = shell
    totals = StagedTable({})
    emitted = StagedTable({})
    seen_during_batch = []

    async def handler(claim, event):
        if emitted.get(claim.claim_id) is not None:
            return []  # a redelivery inside the same batch: nothing new
        day = "day-1"
        seen_during_batch.append((totals.get(day, 0), day in totals.table))

        def write():
            totals[day] = totals.get(day, 0) + 2
            emitted[claim.claim_id] = {"v": 1}
        return Result([Forward(OUT, claim.claim_id, b"claim")], write)

    claims = _claims(3)
    values = _encoded(claims)
    events = [_event(processor.app, 0, values[0]), _event(processor.app, 1, values[1]), _event(processor.app, 2, values[0]),
              _event(processor.app, 3, values[2])]
    _run(processor, events, handler)
    assert seen_during_batch == [(0, False), (2, False), (4, False)]  # staged, not yet in the real table
    assert [k for name, k, _, _ in sent if name == OUT.name] == [b"CF0000", b"CF0001", b"CF0002"]  # one claim each
    assert totals.table == {"day-1": 6} and set(emitted.table) == {"CF0000", "CF0001", "CF0002"}
    assert totals.get("day-1") == 6  # outside a batch the staged table is the table


def test_batch_handler_takes_the_whole_batch_and_falls_back_record_by_record(shell):
    processor, consumer, sent, _ = shell
    calls = []
    claims = _claims(3)
    values = _encoded(claims)

    async def one(claim, event):
        if claim.claim_id == "CF0001":
            raise PoisonMessage(Stage.RULES, "refused", "Refused")
        return [Forward(OUT, claim.claim_id, b"one")]

    async def whole(items):
        calls.append([r.claim_id for r, _ in items])
        if any(r.claim_id == "CF0001" for r, _ in items):
            raise RuntimeError("one transaction for the batch failed")
        return [[Forward(OUT, r.claim_id, b"batch")] for r, _ in items]

    events = [_event(processor.app, 0, values[0]), _event(processor.app, 1, values[2])]
    _run(processor, events, one, handle_batch=whole)
    assert calls == [["CF0000", "CF0002"]]
    assert [(k, v) for name, k, v, _ in sent if name == OUT.name] == [(b"CF0000", b"batch"), (b"CF0002", b"batch")]

    sent.clear()
    events = [_event(processor.app, i + 5, v) for i, v in enumerate(values)]
    _run(processor, events, one, handle_batch=whole)
    assert [(k, v) for name, k, v, _ in sent if name == OUT.name] == [(b"CF0000", b"one"), (b"CF0002", b"one")]
    assert [h["dlq.source.offset"] for name, _, _, h in sent if name.startswith("dlq.")] == [b"6"]
    assert _handled(consumer, events) == [5, 6, 7]


def test_batch_size_is_observed(shell):
    processor, consumer, sent, _ = shell
    before = metrics.BATCH_RECORDS.labels("payer-sim")._sum.get()
    events = [_event(processor.app, i, v) for i, v in enumerate(_encoded(_claims(4)))]
    _run(processor, events, forward)
    assert metrics.BATCH_RECORDS.labels("payer-sim")._sum.get() - before == 4
