"""Publishing from the web app: one kafka-python producer per process (acks=all,
idempotent), each send waited for, so a page only says "submitted" once the broker has the
event. The web app never writes another service's state: it publishes."""

from __future__ import annotations

import threading

from claimflow.codec import Codec
from claimflow.models import Contract
from claimflow.topics import TopicSpec

_lock = threading.Lock()
_producer = None
_codec = Codec()
SEND_TIMEOUT_SECONDS = 15.0


class PublishError(RuntimeError):
    """The broker did not acknowledge in time; the caller must not report success."""


def producer():
    global _producer
    with _lock:
        if _producer is None:
            from claimflow import kafkaio
            from services.workbench.config import current

            _producer = kafkaio.producer(current(), client_id="claimflow-workbench", linger_ms=0)
        return _producer


def publish(spec: TopicSpec, key: str, record: Contract) -> None:
    body = _codec.encode(spec.value, record.to_avro())
    try:
        producer().send(spec.name, key=key.encode(), value=body).get(timeout=SEND_TIMEOUT_SECONDS)
    except Exception as exc:  # KafkaError / timeout: say so, never pretend it was published
        raise PublishError(f"{spec.name}: {type(exc).__name__}") from None


def close() -> None:
    global _producer
    with _lock:
        if _producer is not None:
            _producer.close(timeout=10)
            _producer = None
