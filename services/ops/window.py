"""One run's slice of the topics: the end offsets when the run began, and the records
written since then whose key belongs to the run. The demo counts through this, so its
figures are its own even on a broker that already holds other traffic."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from claimflow.kafkaio import Record, _bounded, drain
from claimflow.reach import preflight
from claimflow.settings import Settings


def _consumer(settings: Settings) -> KafkaConsumer:
    preflight(settings)
    return KafkaConsumer(enable_auto_commit=False, client_id="claimflow-window", request_timeout_ms=15000,
                         **settings.kafka_python_config())


def end_offsets(topics: list[str], settings: Settings) -> dict[tuple[str, int], int]:
    def run():
        consumer = _consumer(settings)
        try:
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
            return {(tp.topic, tp.partition): off for tp, off in consumer.end_offsets(tps).items()} if tps else {}
        finally:
            consumer.close()

    return _bounded(run, 60.0, "end offsets")


def read_since(topic: str, start: dict[tuple[str, int], int], settings: Settings, timeout: float = 15.0) -> list[Record]:
    """Records of ``topic`` from the ``start`` offsets (0 for partitions not in it) to the current end."""

    def run():
        consumer = _consumer(settings)
        try:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            if not tps:
                return []
            consumer.assign(tps)
            end = consumer.end_offsets(tps)
            remaining = set()
            for tp in tps:
                first = start.get((topic, tp.partition), 0)
                if end[tp] > first:
                    consumer.seek(tp, first)
                    remaining.add(tp)
            return drain(consumer, end, remaining, timeout)
        finally:
            consumer.close()

    return _bounded(run, timeout + 60.0, f"read {topic}")


@dataclass
class RunWindow:
    settings: Settings
    start: dict[tuple[str, int], int] = field(default_factory=dict)
    keys: set[bytes] = field(default_factory=set)

    @classmethod
    def open(cls, topic_names: list[str], settings: Settings) -> "RunWindow":
        return cls(settings, end_offsets(topic_names, settings))

    def own(self, topic: str, keys: set[bytes] | None = None) -> list[Record]:
        """This run's records on ``topic``: written since the window opened, key in ``keys``
        (the window's own keys by default)."""
        wanted = self.keys if keys is None else keys
        return [r for r in read_since(topic, self.start, self.settings) if r.key in wanted]
