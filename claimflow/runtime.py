"""The thin Faust shell every service shares: app factory, raw topics from the registry,
/metrics and /healthz pages, and the batched record loop that applies the error contract
(decode -> validate -> rules -> produce -> acks -> tables -> handled; poison input to
dlq.<service>.v1 with its original bytes; transient Kafka errors propagate so the batch
is retried). See ``Processor``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping
from weakref import WeakSet

import faust
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaDriverConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaDriverProducer
from faust.streams import _current_event  # the event a table write belongs to (its changelog partition)
from faust.types import TP as FaustTP
from pydantic import ValidationError

from claimflow import metrics
from claimflow.codec import Codec, DecodeError
from claimflow.dlq import PoisonMessage, Stage, dead_letter_headers
from claimflow.models import Contract, safe_errors
from claimflow.settings import Settings, get_settings
from claimflow.staging import Overlay, StagedTable, staging
from claimflow.topics import DLQ_BY_SERVICE, TopicSpec, partitions_of

log = logging.getLogger("claimflow")


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")]


def broker_credentials(settings: Settings):
    """Faust's broker credentials, from the same client configuration as kafka-python's."""
    from claimflow.kafka_config import KafkaClientConfig

    return KafkaClientConfig.from_settings(settings).faust_credentials()


class IdempotentProducer(AIOKafkaDriverProducer):
    """Faust's aiokafka producer with idempotence on outside transactions too (Faust only
    enables it for exactly-once): a send retried after a leader change is written once."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class HandledOnlyConsumer(AIOKafkaDriverConsumer):
    """Faust's aiokafka consumer, except that on a guarded topic (one our Processor reads)
    the committed offset only ever covers an unbroken run of records our code handled.

    Faust can lose records between the fetch and the stream and still commit past them:
    - its stream loop acknowledges events it *skipped* during a rebalance (flow control
      suspended, or fetched in an older consumer generation) as if they were processed;
    - ``getmany`` drops the rest of a fetched batch when flow stops or the generation
      changes mid-batch, and records of a partition that is not active at that moment, while
      the fetch position has already moved past them;
    - its commit logic then fills such holes: a jump in fetched offsets is recorded as a
      "gap" and counted as done, and its head check lets a single missing offset just above
      the committed one through.
    The fault tests caught the result: a record on encounters.coded.by-day.v1 that no worker
    ever handled while the group's committed offset moved past it (3-5 of 2,000-5,000
    encounters after a scrubber SIGKILL or a scale-out kill).

    Here, for guarded topics: a skipped event is released (nothing waits on it) without its
    offset being recorded; the commit advances only through consecutive handled offsets
    starting at the committed one; and a hole at the head (a record fetched and dropped) is
    repaired by seeking the partition back to it, so it is read and handled again (the
    records after it are redelivered too, which our idempotent consumers absorb). A hole below
    the log start offset (records removed by retention) is skipped, since there is nothing to
    re-read. On a partition with no commit yet the run starts at the log start (where a
    consumer with auto_offset_reset=earliest begins), never at the first handled offset."""

    REPAIR_COOLDOWN_SECONDS = 30.0
    REPAIR_SETTLE_SECONDS = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guarded_topics: set[str] = set()
        self._handled: WeakSet = WeakSet()
        self._repairs: dict[Any, tuple[int, float]] = {}
        self._log_start: dict[tuple[str, int], int] = {}
        self._log_start_lookups: set[tuple[str, int]] = set()
        self.released_unhandled = 0
        self.repairs = 0

    def guard(self, *topic_names: str) -> None:
        self.guarded_topics.update(topic_names)

    def drop_once(self, spec: str) -> None:
        """Fault injection (tests only): the first fetch of ``topic:partition:offset`` is
        dropped between the fetcher and the stream, the way Faust drops records around a
        rebalance, so the tests can show the hole is found and re-read."""
        topic, partition, offset = spec.rsplit(":", 2)
        target = (topic, int(partition), int(offset))
        deliver = self.callback
        pending = [target]

        async def callback(message):
            if pending and (message.topic, message.partition, message.offset) == pending[0]:
                pending.clear()
                log.warning("fault injection: dropped fetched record %s[%d]@%d", *target)
                return None
            return await deliver(message)

        self.callback = callback

    def mark_handled(self, message) -> None:
        self._handled.add(message)

    def ack(self, message) -> bool:
        if message.topic in self.guarded_topics and message not in self._handled:
            if not message.acked:
                message.acked = True
                self._unacked_messages.discard(message)
                self.released_unhandled += 1
                metrics.UNHANDLED_RELEASED.labels(message.topic).inc()
                log.info("not committing %s[%d]@%d: skipped by the stream during a rebalance, it will be re-read",
                         message.topic, message.partition, message.offset)
            return False
        return super().ack(message)

    def _new_offset(self, tp):
        if tp.topic not in self.guarded_topics:
            return super()._new_offset(tp)
        self._gap.pop(tp, None)  # a jump in fetched offsets is not proof the records in between were handled
        committed = self._base_offset(tp)
        if committed is None:
            # No commit on this partition yet (a new group, a first deployment, a new
            # partition): the run must start at the log start, where the consumer began
            # reading (auto_offset_reset=earliest). Until we know it, commit nothing.
            self._schedule_log_start(tp)
            return None
        acked = self._acked.get(tp)
        if not acked:
            return None
        acked.sort()
        index = self._acked_index[tp]
        while acked and acked[0] < committed:  # handled again after a seek back: already committed
            index.discard(acked.pop(0))
        if not acked:
            return None
        if acked[0] != committed:
            self._schedule_repair(tp, committed)
            return None
        end = committed
        for offset in acked:
            if offset != end:
                break
            end += 1
        del acked[:end - committed]
        index.difference_update(range(committed, end))
        return end

    def _base_offset(self, tp) -> int | None:
        """Where the unbroken run of handled offsets must start: the committed offset, or
        the log start of a partition that has never been committed (Faust keeps both "no
        commit" and "committed 0" as None)."""
        committed = self._committed_offset.get(tp)
        if committed is not None:
            return committed
        return self._log_start.get((tp.topic, tp.partition))

    def _schedule_log_start(self, tp) -> None:
        key = (tp.topic, tp.partition)
        if key in self._log_start_lookups:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next commit on the loop asks
            return
        self._log_start_lookups.add(key)
        loop.create_task(self._look_up_log_start(tp))

    async def _look_up_log_start(self, tp) -> None:
        key = (tp.topic, tp.partition)
        try:
            earliest = (await self.earliest_offsets(FaustTP(*key))).get(FaustTP(*key))
            if earliest is not None:
                self._log_start[key] = int(earliest)
        except Exception as exc:  # noqa: BLE001 - asked again on the next commit
            log.warning("log start of %s[%d] unknown: %s", tp.topic, tp.partition, type(exc).__name__)
        finally:
            self._log_start_lookups.discard(key)

    def _schedule_repair(self, tp, offset: int) -> None:
        now = time.monotonic()
        last = self._repairs.get(tp)
        if last is not None and last[0] == offset and now - last[1] < self.REPAIR_COOLDOWN_SECONDS:
            return  # a re-read from there is already under way
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (not running): the next commit on the loop schedules it
            return
        self._repairs[tp] = (offset, now)
        loop.create_task(self._repair(tp, offset))

    async def _repair(self, tp, offset: int) -> None:
        tp = FaustTP(tp.topic, tp.partition)  # Faust's partition sets hold its own TP type only
        generation = self.app.consumer_generation_id
        paused = False
        try:
            earliest = (await self.earliest_offsets(tp)).get(tp)
            if earliest is not None and offset < earliest:
                log.warning("%s[%d]: offsets %d..%d are below the log start (retention); committing from %d",
                            tp.topic, tp.partition, offset, earliest - 1, earliest)
                if self._base_offset(tp) == offset:
                    self._committed_offset[tp] = earliest
                return
            if not self._still_owner(tp, offset, generation):
                return  # rebalanced or moved on meanwhile: a rebalance seeks to the committed offset itself
            self.repairs += 1
            metrics.REREAD_REPAIRS.labels(tp.topic).inc()
            log.warning("re-reading %s[%d] from offset %d: a record there was fetched but never handled",
                        tp.topic, tp.partition, offset)
            # Stop handing this partition's records to the stream and let fetches already under
            # way pass, so none of them arrives after the seek: Faust drops a record whose offset
            # is below the last one it read, which would drop the re-read itself.
            self.pause_partitions([tp])
            paused = True
            await asyncio.sleep(self.REPAIR_SETTLE_SECONDS)
            if self._still_owner(tp, offset, generation):
                await self.seek(tp, offset)
        except Exception as exc:  # noqa: BLE001 - a failed repair is retried after the cooldown
            log.warning("re-read of %s[%d] from %d failed: %s", tp.topic, tp.partition, offset, type(exc).__name__)
        finally:
            # during a rebalance Faust pauses and resumes partitions itself
            if paused and self.app.consumer_generation_id == generation and self.app.flow_control.is_active():
                self.resume_partitions([tp])

    def _still_owner(self, tp, offset: int, generation: int) -> bool:
        return (self.app.consumer_generation_id == generation and self.app.flow_control.is_active()
                and tp in self.assignment() and self._base_offset(tp) == offset)


def mark_handled(app: faust.App, message) -> None:
    """Tell the consumer our code has handled ``message`` (see HandledOnlyConsumer)."""
    consumer = app.consumer
    if isinstance(consumer, HandledOnlyConsumer):
        consumer.mark_handled(message)


def guard_topics(app: faust.App, *specs: TopicSpec) -> None:
    consumer = app.consumer
    if isinstance(consumer, HandledOnlyConsumer):
        consumer.guard(*(spec.name for spec in specs))


class App(faust.App):
    claimflow_drop_fetched: str | None = None  # Settings.fault_drop_fetched (tests only)

    def _new_producer(self):
        return IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)

    def _new_consumer(self):
        consumer = HandledOnlyConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
        )
        if self.claimflow_drop_fetched:
            consumer.drop_once(self.claimflow_drop_fetched)
        return consumer


def make_app(service: str, settings: Settings | None = None, **overrides: Any) -> faust.App:
    s = settings or get_settings()
    (s.data_dir / service).mkdir(parents=True, exist_ok=True)
    conf: dict[str, Any] = dict(
        broker=broker_urls(s),
        broker_credentials=broker_credentials(s),
        store=s.table_store,
        datadir=str(s.data_dir / service),
        web_bind=s.http_host,
        web_host=s.http_host,
        web_port=s.port_for(service),
        # Faust's built-in pages dump table contents (/table/...) and cluster topology
        # (/router/...) without authentication: off. tests/unit/test_route_inventory.py
        # proves every remaining route is public-without-PHI or answers 401.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        topic_partitions=4,
        topic_replication_factor=s.topic_replication_factor or 1,
        broker_commit_interval=1.0,
        broker_session_timeout=s.kafka_session_timeout_seconds,
        broker_heartbeat_interval=s.kafka_heartbeat_interval_seconds,
        # linger 0: a handler that must see its outputs acknowledged before it records table
        # state (Result.after_delivery) waits for the broker on every record, and a linger
        # would be added to each of those waits. Batching still happens: while a produce
        # request is in flight, new records accumulate in the partition's batch.
        producer_linger_ms=0,
        producer_max_batch_size=262_144,  # bytes per partition batch (aiokafka default 16 KiB ~ 10 coded encounters)
        producer_max_request_size=max(s.max_message_bytes * 2, 1_048_576),
        autodiscover=False,
        logging_config=None,
    )
    conf.update(overrides)
    app = App(f"{s.app_id_prefix}-{service}", **conf)
    app.claimflow_drop_fetched = s.fault_drop_fetched

    @app.page("/metrics")
    async def _metrics(web, request):
        body, ctype = metrics.exposition()
        return web.bytes(body, content_type=ctype.split(";")[0])

    from claimflow import lag

    lag.install(app, service)

    @app.page("/healthz")
    async def _health(web, request):
        from claimflow.health import health_body

        return web.json(health_body(service))

    return app


def table_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of a Faust table (ignored by memory://). Faust opens one RocksDB per
    table partition with a 2 GiB block cache and up to 3 x 64 MiB memtables each, so a
    service's RSS grew with the data it wrote (memtables fill until 64 MiB before a flush)
    and read (full scans fill the cache): both are bounded here, per partition."""
    mib = 1024 * 1024
    return {"block_cache_size": settings.table_block_cache_mib * mib,
            "write_buffer_size": settings.table_write_buffer_mib * mib, "max_write_buffer_number": 2}


def raw_topic(app: faust.App, spec: TopicSpec, *more: TopicSpec):
    """A raw-bytes Faust topic for one catalog topic (or several with equal partitions)."""
    return app.topic(
        spec.name,
        *(m.name for m in more),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions_of(spec),
    )


@dataclass(frozen=True)
class Output:
    topic: TopicSpec
    key: str
    record: Contract


@dataclass(frozen=True)
class Forward:
    """An output that is a consumed record's original bytes under a new key (a re-key hop:
    nothing is re-serialised)."""

    topic: TopicSpec
    key: str
    value: bytes


@dataclass
class Result:
    """What a handler decided: records to produce, and state to record once they are
    acknowledged by the broker (so a crash can duplicate an output, never lose one).

    ``after_delivery`` must only read and write tables wrapped by ``Processor.table``: it is
    run once when the record is handled, on the batch's overlay (so later records of the
    batch see its effects), and once more on the real tables after the batch's outputs are
    acknowledged."""

    outputs: list[Output | Forward]
    after_delivery: Callable[[], None] | None = None


Handler = Callable[[Any, Any], Awaitable["Result | Iterable[Output]"]]
# handle_batch(items) -> one result per item, same order: items are (record, event) pairs of
# decoded, validated records (poison input is already set aside for the dead-letter topic)
BatchHandler = Callable[[list[tuple[Any, Any]]], Awaitable[list["Result | Iterable[Output]"]]]
Route = tuple[TopicSpec, type[Contract], Handler]


@dataclass
class _Handled:
    """One record of a batch after its handler ran: what to send, what to write, or why it
    is dead-lettered."""

    event: Any
    encoded: list[tuple[Any, bytes, bytes]]
    after_delivery: Callable[[], None] | None = None
    poison: PoisonMessage | None = None


class Processor:
    """Decodes, validates, runs a handler and produces its outputs for one service,
    following the dead-letter contract for anything that can never succeed.

    The record loop works in batches (``run`` / ``run_routes``): it collects up to
    ``batch_max_records`` records, for at most ``batch_max_ms`` milliseconds, and closes the
    batch early as soon as no further record is waiting in the stream's queue (so a record
    never waits for company at low load). For each batch:

    1. decode and validate every record (poison input is set aside for dlq.<service>.v1);
    2. run the handler of each record in order with an in-batch state overlay: tables
       wrapped with ``Processor.table`` read the writes staged by earlier records of the
       batch (a handler's ``Result.after_delivery`` runs on the overlay right away); a rule
       that throws, or a record whose outputs cannot be encoded, is dead-lettered and its
       staged writes are undone;
    3. send every output and every dead letter;
    4. await all of their acknowledgements once;
    5. write the tables (each ``after_delivery`` again, in order, on the real tables, with
       the record as Faust's current event so its changelog partition is the record's);
    6. only then mark the records handled, so the commit guard (HandledOnlyConsumer) may
       commit them.

    A failure in steps 3-5 (a produce error, a broker that does not acknowledge) raises out
    of the loop and crashes the agent like a SIGKILL would: no record of the batch is marked
    handled, so nothing is committed past an unacknowledged output, and the batch is read
    again (idempotent consumers absorb the duplicates).

    A service can take a whole batch at once by passing ``handle_batch`` to ``run`` or
    ``run_routes``: ``async def handle_batch(items: list[tuple[record, event]]) ->
    list[Result | Iterable[Output]]``, one result per item in the same order (``items`` are
    the batch's decoded, validated records in consumption order). It runs in step 2 (on the
    overlay) instead of the per-record handlers. If it raises, its staged writes are undone
    and the batch is handled again record by record through the per-record handlers, so that
    only a record that fails on its own is dead-lettered."""

    def __init__(self, app: faust.App, service: str, codec: Codec | None = None, settings: Settings | None = None):
        self.app = app
        self.service = service
        self.codec = codec or Codec()
        self.settings = settings or get_settings()
        self.dlq = raw_topic(app, DLQ_BY_SERVICE[service])
        # a dead letter's value must fit one produce request with room for key and headers
        self.dead_letter_value_limit = int(app.conf.producer_max_request_size) - 65_536
        self.batch_max_records = max(1, int(self.settings.batch_max_records))
        self.batch_max_seconds = max(0.0, float(self.settings.batch_max_ms) / 1000.0)
        self._topics: dict[str, Any] = {}
        # metric children resolved once (labels() takes a lock and a dict lookup per call)
        self._out_counters: dict[str, Any] = {}
        self._in_ok = metrics.RECORDS_IN.labels(service, "ok")
        self._processing = metrics.PROCESSING_SECONDS.labels(service)
        self._end_to_end = metrics.END_TO_END_SECONDS.labels(service)
        self._batch_records = metrics.BATCH_RECORDS.labels(service)
        self._batches = 0
        self._kill_in_batch = self.settings.fault_kill_in_batch

    def topic(self, spec: TopicSpec):
        if spec.name not in self._topics:
            self._topics[spec.name] = raw_topic(self.app, spec)
        return self._topics[spec.name]

    def table(self, table: Any) -> StagedTable:
        """``table`` (a Faust table) read and written through the record loop's batch overlay."""
        return StagedTable(table)

    def decode(self, value: bytes | None, spec: TopicSpec, model: type[Contract]) -> Contract:
        if value is None:
            raise PoisonMessage(Stage.DECODE, "null value (tombstone) on a data topic", "NullValue")
        if len(value) > self.settings.max_message_bytes:
            raise PoisonMessage(Stage.DECODE, f"value of {len(value)} bytes exceeds {self.settings.max_message_bytes}", "OversizedValue")
        try:
            record = self.codec.decode(value, spec.value)
        except DecodeError as exc:
            raise PoisonMessage(Stage.DECODE, str(exc), type(exc).__name__) from None
        try:
            return model.model_validate(record)
        except ValidationError as exc:
            raise PoisonMessage(Stage.VALIDATE, safe_errors(exc), "ValidationError") from None

    def encode(self, outputs: Iterable[Output | Forward]) -> list[tuple[Any, bytes, bytes]]:
        encoded = []
        for out in outputs:
            if isinstance(out, Forward):
                encoded.append((self.topic(out.topic), out.key.encode(), out.value))
                continue
            try:
                body = self.codec.encode(out.topic.value, out.record.to_avro())
            except Exception as exc:  # fastavro ValueError/TypeError: a record our rules built is not writable
                raise PoisonMessage(Stage.PRODUCE, f"cannot encode {out.topic.value}: {type(exc).__name__}", type(exc).__name__) from None
            encoded.append((self.topic(out.topic), out.key.encode(), body))
        return encoded

    async def dead_letter(self, event, poison: PoisonMessage):
        """Send ``event``'s original bytes to dlq.<service>.v1; returns the send's
        acknowledgement future."""
        msg = event.message
        headers = dead_letter_headers(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            service=self.service,
            stage=poison.stage,
            error_class=poison.error_class,
            error_message=poison.message,
            original_headers=list(_header_items(msg.headers)),
        )
        value = msg.value
        if value is not None and len(value) > self.dead_letter_value_limit:
            # Too big for one produce request (or the DLQ topic): keep proof of what it was
            # (size and digest) instead of the body; the original stays on its source topic.
            headers += [("dlq.value.omitted", b"true"), ("dlq.value.bytes", str(len(value)).encode()),
                        ("dlq.value.sha256", hashlib.sha256(value).hexdigest().encode())]
            value = None
        fut = await self.dlq.send(key=msg.key, value=value, headers=headers, timestamp=msg.timestamp)
        metrics.DEAD_LETTERS.labels(self.service, poison.stage.value).inc()
        metrics.RECORDS_IN.labels(self.service, "dead_lettered").inc()
        log.warning(
            "dead-lettered %s[%d]@%d stage=%s error=%s",
            msg.topic, msg.partition, msg.offset, poison.stage.value, poison.error_class,
        )
        return fut

    # --- the record loop ------------------------------------------------------------------

    async def handle_event(self, event, spec: TopicSpec, model: type[Contract], handler: Handler) -> None:
        """One record as a batch of one (the caller acknowledges the event)."""
        await self.process_batch([event], lambda _e: (spec, model, handler))

    async def process_batch(self, events: list, route_of: Callable[[Any], Route],
                            handle_batch: BatchHandler | None = None, stream=None) -> None:
        """Steps 1-6 of the class docstring for ``events``; ``stream`` (if given) is told
        each event is done once it is marked handled."""
        started = time.perf_counter()
        handled: list[_Handled] = []
        decoded: list[tuple[Any, Contract, Handler]] = []
        for event in events:
            spec, model, handler = route_of(event)
            try:
                decoded.append((event, self.decode(event.value, spec, model), handler))
            except PoisonMessage as poison:
                handled.append(_Handled(event, [], poison=poison))
        overlay = Overlay()
        with staging(overlay):
            if handle_batch is not None and decoded:
                mark = overlay.mark()
                try:
                    handled += await self._run_batch_handler(handle_batch, decoded)
                except _BatchFailed:
                    overlay.rollback(mark)
                    handled += [await self._run_one(overlay, *item) for item in decoded]
            else:
                for item in decoded:
                    handled.append(await self._run_one(overlay, *item))

        pending = []
        for h in handled:
            if h.poison is not None:
                pending.append(await self.dead_letter(h.event, h.poison))
                continue
            for topic, key, body in h.encoded:
                pending.append(await topic.send(key=key, value=body))
                self._records_out(topic).inc()
        self._batches += 1
        if self._kill_in_batch is not None and len(events) >= 2 and pending and self._batches >= self._kill_in_batch:
            _kill_self(self.service, events)
        for fut in pending:
            await fut  # a produce failure raises here: nothing of this batch is marked handled

        with staging(None):
            for h in handled:
                if h.after_delivery is not None:
                    token = _current_event.set(weakref.ref(h.event))
                    try:
                        h.after_delivery()
                    finally:
                        _current_event.reset(token)

        elapsed = time.perf_counter() - started
        now = time.time()
        self._batch_records.observe(len(events))
        for h in handled:
            self._mark_handled(h.event.message)
            if stream is not None:
                await stream.ack(h.event)
            if h.poison is None:
                self._in_ok.inc()
                self._processing.observe(elapsed)
                if h.event.message.timestamp:
                    self._end_to_end.observe(max(0.0, now - h.event.message.timestamp))

    async def _run_one(self, overlay: Overlay, event, record: Contract, handler: Handler) -> _Handled:
        mark = overlay.mark()
        try:
            try:
                result = await handler(record, event)
                if not isinstance(result, Result):
                    result = Result(list(result))
            except PoisonMessage:
                raise
            except Exception as exc:  # a rule failed on this record: it will fail again on retry
                raise self._rules_failed(event, exc) from None
            encoded = self.encode(result.outputs)
            if result.after_delivery is not None:
                try:
                    result.after_delivery()  # on the overlay: later records of the batch see it
                except Exception as exc:  # noqa: BLE001
                    raise self._rules_failed(event, exc) from None
        except PoisonMessage as poison:
            overlay.rollback(mark)
            return _Handled(event, [], poison=poison)
        return _Handled(event, encoded, result.after_delivery)

    async def _run_batch_handler(self, handle_batch: BatchHandler, decoded) -> list[_Handled]:
        try:
            results = list(await handle_batch([(record, event) for event, record, _ in decoded]))
            if len(results) != len(decoded):
                raise ValueError(f"handle_batch returned {len(results)} results for {len(decoded)} records")
            out = []
            for (event, _, _), result in zip(decoded, results):
                if not isinstance(result, Result):
                    result = Result(list(result))
                encoded = self.encode(result.outputs)
                if result.after_delivery is not None:
                    result.after_delivery()
                out.append(_Handled(event, encoded, result.after_delivery))
            return out
        except Exception as exc:  # noqa: BLE001 - retried record by record
            log.warning("%s batch handler failed on %d records (%s): handling them one by one",
                        self.service, len(decoded), type(exc).__name__)
            raise _BatchFailed() from None

    def _rules_failed(self, event, exc: Exception) -> PoisonMessage:
        # exception messages can quote input values (pydantic does): log the class and
        # the code path only, never the message
        log.error("rules failed on %s[%d]@%d: %s\n%s", event.message.topic, event.message.partition, event.message.offset,
                  type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
        return PoisonMessage(Stage.RULES, f"{type(exc).__name__} in {self.service} rules", type(exc).__name__)

    def _mark_handled(self, message) -> None:
        if self.settings.trace_offsets:
            log.info("handled %s[%d]@%d", message.topic, message.partition, message.offset)
        mark_handled(self.app, message)

    def _records_out(self, topic):
        name = topic.get_topic_name()
        counter = self._out_counters.get(name)
        if counter is None:
            counter = self._out_counters[name] = metrics.RECORDS_OUT.labels(self.service, name)
        return counter

    async def _loop(self, stream, route_of: Callable[[Any], Route], handle_batch: BatchHandler | None) -> None:
        # events are acknowledged by process_batch once handled (Faust's own per-event ack
        # would come before the batch's outputs are acknowledged); skipped events are still
        # acknowledged by the stream, and the commit guard keeps them uncommitted
        stream.enable_acks = False
        queue = getattr(stream.channel, "queue", None)
        drained = queue.empty if queue is not None else (lambda: True)  # nothing more is waiting
        limit, window = self.batch_max_records, self.batch_max_seconds
        events = stream.events().__aiter__()
        batch: list = []
        opened = 0.0
        upcoming = None  # the stream's next event, awaited in a task so an open batch never waits on it
        try:
            while True:
                if upcoming is None:
                    upcoming = asyncio.ensure_future(events.__anext__())
                if batch:
                    left = 0.0 if drained() else max(0.0, window - (time.monotonic() - opened))
                    done, _ = await asyncio.wait({upcoming}, timeout=left)
                    if not done:  # nothing more came in time: handle what we have
                        closed, batch = batch, []
                        await self.process_batch(closed, route_of, handle_batch, stream)
                        continue
                try:
                    event = await upcoming
                except StopAsyncIteration:
                    return  # the stream stopped: an unhandled batch is read again after the restart
                upcoming = None
                if not batch:
                    opened = time.monotonic()
                batch.append(event)
                if len(batch) >= limit:
                    closed, batch = batch, []
                    await self.process_batch(closed, route_of, handle_batch, stream)
        finally:
            if upcoming is not None and not upcoming.done():
                upcoming.cancel()

    async def run(self, stream, spec: TopicSpec, model: type[Contract], handler: Handler,
                  handle_batch: BatchHandler | None = None) -> None:
        guard_topics(self.app, spec)
        route = (spec, model, handler)
        await self._loop(stream, lambda _event: route, handle_batch)

    async def run_routes(self, stream, routes: dict[str, Route], handle_batch: BatchHandler | None = None) -> None:
        """One agent over several co-partitioned topics, dispatching by source topic."""
        guard_topics(self.app, *(spec for spec, _, _ in routes.values()))
        await self._loop(stream, lambda event: routes[event.message.topic], handle_batch)

    async def dead_letter_record(self, key: str, record: Contract, stage: Stage, error_class: str, message: str,
                                 origin: dict | None = None) -> None:
        """Dead-letter a record that is no longer tied to a consumed event (e.g. a parked
        remittance that expired); ``origin`` carries its original coordinates."""
        origin = origin or {}
        spec_value = type(record).avro_name
        headers = dead_letter_headers(
            topic=str(origin.get("topic", "")), partition=int(origin.get("partition", -1)), offset=int(origin.get("offset", -1)),
            service=self.service, stage=stage, error_class=error_class, error_message=message,
        )
        await self.dlq.send(key=key.encode(), value=self.codec.encode(spec_value, record.to_avro()), headers=headers)
        metrics.DEAD_LETTERS.labels(self.service, stage.value).inc()
        log.warning("dead-lettered %s from %s[%s]@%s stage=%s error=%s", spec_value, origin.get("topic"),
                    origin.get("partition"), origin.get("offset"), stage.value, error_class)


class _BatchFailed(Exception):
    """A batch handler raised: the batch is handled again record by record."""


def _kill_self(service: str, events: list) -> None:
    """Fault injection (CLAIMFLOW_FAULT_KILL_IN_BATCH, tests only): die like a SIGKILL while
    this batch's outputs are in flight (sent, not yet acknowledged)."""
    first, last = events[0].message, events[-1].message
    log.warning("fault injection: SIGKILL %s with a batch of %d records in flight (%s[%d]@%d..%s[%d]@%d)", service,
                len(events), first.topic, first.partition, first.offset, last.topic, last.partition, last.offset)
    for handler in logging.getLogger().handlers + log.handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _header_items(headers) -> Iterable[tuple[str, bytes]]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)
