"""The consumer guard that keeps skipped-during-rebalance records from being committed."""

from __future__ import annotations

from faust.types import TP
from faust.types.tuples import ConsumerMessage

from claimflow import topics
from claimflow.runtime import HandledOnlyConsumer, guard_topics, make_app, mark_handled
from claimflow.settings import Settings


def _message(topic: str, offset: int, partition: int = 0, tp=None) -> ConsumerMessage:
    return ConsumerMessage(topic=topic, partition=partition, offset=offset, timestamp=0.0, timestamp_type=0,
                           headers=[], key=b"k", value=b"v", checksum=None, tp=tp or TP(topic, partition))


def _consumer(tmp_path) -> HandledOnlyConsumer:
    app = make_app("scrubber", Settings(data_dir=tmp_path, app_id_prefix="guard-test"))
    consumer = app.consumer
    assert isinstance(consumer, HandledOnlyConsumer)
    guard_topics(app, topics.ENCOUNTERS_CODED_BY_DAY)
    app.topics.acking_topics.add(topics.ENCOUNTERS_CODED_BY_DAY.name)
    app.topics.acking_topics.add(topics.ENCOUNTERS.name)
    return consumer


def test_skipped_record_is_released_but_not_committable(tmp_path):
    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, 0)
    skipped = _message(tp.topic, 7)
    consumer._unacked_messages.add(skipped)
    assert consumer.ack(skipped) is False
    assert skipped.acked  # nothing waits on it (rebalance wait_empty)
    assert skipped not in consumer._unacked_messages
    assert consumer._acked.get(tp, []) == []
    assert consumer.released_unhandled == 1


def test_handled_record_is_committable(tmp_path):
    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, 0)
    consumer._committed_offset[tp] = 0
    handled = [_message(tp.topic, n) for n in range(3)]
    for m in handled:
        consumer.mark_handled(m)
        assert consumer.ack(m) is True
    assert consumer._acked[tp] == [0, 1, 2]
    assert consumer._new_offset(tp) == 3


def test_hole_left_by_a_skipped_record_stops_the_commit(tmp_path):
    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, 0)
    consumer._committed_offset[tp] = 0
    for n in range(5):
        m = _message(tp.topic, n)
        if n != 2:  # offset 2 was skipped by the stream during a rebalance
            consumer.mark_handled(m)
        consumer.ack(m)
    assert consumer._new_offset(tp) == 2  # never past the record no handler saw


def _ack_offsets(consumer, tp, offsets, unhandled=()):
    for n in offsets:
        m = _message(tp.topic, n, tp.partition, tp)
        if n not in unhandled:
            consumer.mark_handled(m)
        consumer.ack(m)


def test_commit_runs_only_through_consecutive_handled_offsets(tmp_path):
    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, 0)
    consumer._committed_offset[tp] = 5
    _ack_offsets(consumer, tp, range(5, 10), unhandled={7})
    assert consumer._new_offset(tp) == 7
    consumer._committed_offset[tp] = 7
    # Faust's own check lets a single missing offset above the committed one through; ours does not
    assert consumer._new_offset(tp) is None
    # a gap recorded by Faust's fetch loop is not taken as proof the records were handled
    consumer._gap[tp].addi(7, 8)
    assert consumer._new_offset(tp) is None


def test_hole_is_repaired_by_seeking_back_to_it(tmp_path):
    import asyncio

    from aiokafka.structs import TopicPartition

    consumer = _consumer(tmp_path)
    # the aiokafka driver keys messages by aiokafka's TopicPartition, while Faust's partition
    # sets accept only its own TP type (pausing with the former crashed the fetcher once)
    tp = TopicPartition(topics.ENCOUNTERS_CODED_BY_DAY.name, 1)
    seeks = []

    async def earliest_offsets(*tps):
        return {tp: 0}

    async def seek(partition, offset):
        seeks.append((partition, offset))

    consumer.earliest_offsets = earliest_offsets
    consumer.seek = seek
    consumer.assignment = lambda: {TP(tp.topic, tp.partition)}
    consumer.REPAIR_SETTLE_SECONDS = 0.01
    consumer.app.flow_control.resume()
    consumer._set_active_tps({TP(tp.topic, tp.partition)})
    consumer._committed_offset[tp] = 29
    _ack_offsets(consumer, tp, [30, 31])  # 29 was fetched and dropped before any handler saw it

    async def commit_twice():
        assert consumer._new_offset(tp) is None
        assert consumer._new_offset(tp) is None  # within the cooldown: one re-read, not two
        await asyncio.sleep(0.005)
        assert tp not in consumer._get_active_partitions()  # paused while fetches under way drain
        await asyncio.sleep(0.1)

    asyncio.run(commit_twice())
    assert seeks == [(tp, 29)]
    assert tp in consumer._get_active_partitions()  # resumed after the seek
    assert consumer.repairs == 1
    # the re-read record is handled: the commit now covers 29..31
    _ack_offsets(consumer, tp, [29])
    assert consumer._new_offset(tp) == 32


def test_hole_below_the_log_start_is_skipped(tmp_path):
    import asyncio

    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, 2)

    async def earliest_offsets(*tps):
        return {tp: 40}  # retention removed everything below 40

    async def seek(partition, offset):
        raise AssertionError("nothing to re-read below the log start")

    consumer.earliest_offsets = earliest_offsets
    consumer.seek = seek
    consumer.assignment = lambda: {tp}
    consumer._committed_offset[tp] = 12
    _ack_offsets(consumer, tp, [40, 41])

    async def commit():
        assert consumer._new_offset(tp) is None
        await asyncio.sleep(0.05)

    asyncio.run(commit())
    assert consumer._new_offset(tp) == 42


def _log_start_probe(tmp_path, log_start: int, partition: int = 3):
    """A consumer whose partition has never been committed, with the log start known
    only through the (stubbed) broker lookup."""
    consumer = _consumer(tmp_path)
    tp = TP(topics.ENCOUNTERS_CODED_BY_DAY.name, partition)
    lookups, seeks = [], []

    async def earliest_offsets(*tps):
        lookups.append(tps)
        return {tp: log_start}

    async def seek(partition, offset):
        seeks.append(offset)

    consumer.earliest_offsets = earliest_offsets
    consumer.seek = seek
    consumer.assignment = lambda: {tp}
    consumer.REPAIR_SETTLE_SECONDS = 0.01
    consumer.app.flow_control.resume()
    consumer._set_active_tps({tp})
    assert consumer._committed_offset.get(tp) is None
    return consumer, tp, lookups, seeks


def test_empty_commit_waits_for_the_log_start(tmp_path):
    import asyncio

    consumer, tp, lookups, _ = _log_start_probe(tmp_path, 0)
    _ack_offsets(consumer, tp, [0, 1, 2])
    assert consumer._new_offset(tp) is None  # no loop to ask on: nothing committed yet

    async def commit():
        assert consumer._new_offset(tp) is None  # asks the broker, commits nothing meanwhile
        assert consumer._new_offset(tp) is None  # one lookup at a time
        await asyncio.sleep(0.01)
        return consumer._new_offset(tp)

    assert asyncio.run(commit()) == 3
    assert len(lookups) == 1


def test_empty_commit_with_a_gap_never_passes_it(tmp_path):
    """The probe of issue 20: handled 0, 1, 3, 4 and Faust's fetch loop recorded a gap for 2.
    Faust's own logic committed 5; the commit must stop at 2 and 2 be re-read."""
    import asyncio

    consumer, tp, _, seeks = _log_start_probe(tmp_path, 0)
    _ack_offsets(consumer, tp, [0, 1, 3, 4])
    consumer._gap[tp].addi(2, 3)

    async def commits():
        consumer._new_offset(tp)
        await asyncio.sleep(0.01)  # log start known
        first = consumer._new_offset(tp)
        consumer._committed_offset[tp] = first  # what Consumer.commit records
        consumer._gap[tp].addi(2, 3)
        second = consumer._new_offset(tp)
        await asyncio.sleep(0.1)
        return first, second

    assert asyncio.run(commits()) == (2, None)
    assert seeks == [2]  # the hole is re-read
    _ack_offsets(consumer, tp, [2, 3, 4])
    assert consumer._new_offset(tp) == 5


def test_empty_commit_head_hole_is_re_read_from_the_log_start(tmp_path):
    """Nothing committed and the first fetched record (the log start, 7 after retention)
    was dropped: handled 8 and 9 must not be committed, the partition is re-read from 7."""
    import asyncio

    consumer, tp, _, seeks = _log_start_probe(tmp_path, 7)
    _ack_offsets(consumer, tp, [8, 9])

    async def commits():
        consumer._new_offset(tp)
        await asyncio.sleep(0.01)
        result = consumer._new_offset(tp)
        await asyncio.sleep(0.1)
        return result

    assert asyncio.run(commits()) is None
    assert seeks == [7]
    _ack_offsets(consumer, tp, [7, 8, 9])
    assert consumer._new_offset(tp) == 10


def test_unguarded_topics_keep_faust_behaviour(tmp_path):
    consumer = _consumer(tmp_path)
    m = _message(topics.ENCOUNTERS.name, 0)
    assert consumer.ack(m) is True


def test_mark_handled_on_plain_app_is_a_no_op(tmp_path):
    import faust

    app = faust.App("guard-test-plain", broker="kafka://127.0.0.1:1", autodiscover=False, datadir=str(tmp_path))
    mark_handled(app, _message("x", 0))
    guard_topics(app, topics.ENCOUNTERS)
