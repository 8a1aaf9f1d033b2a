"""Producer/consumer helpers for the CLI, the demo and the tests (kafka-python)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from claimflow.reach import preflight
from claimflow.settings import Settings, get_settings


def producer(settings: Settings | None = None, **overrides) -> KafkaProducer:
    settings = settings or get_settings()
    preflight(settings)
    cfg = dict(acks="all", enable_idempotence=True, linger_ms=10, batch_size=65536, retries=10,
               max_in_flight_requests_per_connection=5, client_id="claimflow-cli")
    cfg.update(settings.kafka_python_config())
    cfg.update(overrides)
    return KafkaProducer(**cfg)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


def _bounded(fn, seconds: float, what: str):
    """Run a blocking client call with a deadline. kafka-python 3.x waits on some metadata
    requests without a timeout (seen after a broker restart); a stuck call is abandoned on
    its daemon thread and reported instead of hanging the caller forever."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"claimflow-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"{what} did not finish within {seconds:.0f}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def read_topic(topic: str, settings: Settings | None = None, timeout: float = 10.0, attempts: int = 3) -> list[Record]:
    """Read a topic from the beginning to its current end (no consumer group)."""
    settings = settings or get_settings()
    preflight(settings)
    for attempt in range(attempts):
        try:
            return _bounded(lambda: _read_topic(topic, settings, timeout), timeout + 60.0, f"read {topic}")
        except TimeoutError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _read_topic(topic: str, settings: Settings, timeout: float) -> list[Record]:
    consumer = KafkaConsumer(enable_auto_commit=False, client_id="claimflow-reader", **settings.kafka_python_config())
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        return drain(consumer, end, {tp for tp in tps if end[tp] > 0}, timeout)
    finally:
        consumer.close()


def drain(consumer: KafkaConsumer, end: dict, remaining: set, timeout: float) -> list[Record]:
    """Poll an assigned, positioned consumer until every partition in ``remaining`` reached
    its ``end`` offset (or ``timeout`` passed); records at or past the end are left out."""
    out: list[Record] = []
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                if m.offset < end[tp]:
                    out.append(Record(m.topic, m.partition, m.offset, m.key, m.value, list(m.headers or []), m.timestamp))
            if consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
    return out


def topic_sizes(topics: Iterable[str], settings: Settings | None = None, attempts: int = 3) -> dict[str, int]:
    """Number of records in each topic (end offset - beginning offset, summed over partitions)."""
    settings = settings or get_settings()
    topics = list(topics)
    preflight(settings)
    for attempt in range(attempts):
        try:
            return _bounded(lambda: _topic_sizes(topics, settings), 30.0, "topic sizes")
        except TimeoutError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _topic_sizes(topics: list[str], settings: Settings) -> dict[str, int]:
    consumer = KafkaConsumer(enable_auto_commit=False, client_id="claimflow-sizes", **settings.kafka_python_config())
    try:
        sizes = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            if not tps:
                sizes[topic] = 0
                continue
            begin = consumer.beginning_offsets(tps)
            end = consumer.end_offsets(tps)
            sizes[topic] = sum(end[tp] - begin[tp] for tp in tps)
        return sizes
    finally:
        consumer.close()


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def iter_lines(path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, line
