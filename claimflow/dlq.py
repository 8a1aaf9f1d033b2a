"""Dead-letter contract (DESIGN.md section 4).

A dead-lettered record keeps its original key, value, headers and timestamp and explains
itself in headers: dlq.source.topic/partition/offset, dlq.service, dlq.stage
(decode|validate|rules|produce), dlq.error.class, dlq.error.message, dlq.failed_at.
Error messages are built by our code from exception classes and pydantic locations,
never from record content, so they carry no PHI."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

MAX_MESSAGE_CHARS = 500


class Stage(str, Enum):
    DECODE = "decode"
    VALIDATE = "validate"
    RULES = "rules"
    PRODUCE = "produce"


class PoisonMessage(Exception):
    """Raised by processing code for input that will never succeed, whatever the retries."""

    def __init__(self, stage: Stage, message: str, error_class: str | None = None):
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.error_class = error_class or "PoisonMessage"


def dead_letter_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    service: str,
    stage: Stage,
    error_class: str,
    error_message: str,
    original_headers: list[tuple[str, bytes]] | None = None,
    failed_at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    failed_at = failed_at or datetime.now(timezone.utc)
    kept = [(k, v) for k, v in (original_headers or []) if not k.startswith("dlq.")]
    return kept + [
        ("dlq.source.topic", topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
        ("dlq.service", service.encode()),
        ("dlq.stage", stage.value.encode()),
        ("dlq.error.class", error_class.encode()),
        ("dlq.error.message", error_message[:MAX_MESSAGE_CHARS].encode()),
        ("dlq.failed_at", failed_at.isoformat(timespec="milliseconds").encode()),
    ]


def headers_dict(headers) -> dict[str, str]:
    """Decode a Kafka header list into a str dict (last value wins)."""
    out = {}
    for k, v in headers or []:
        out[k] = v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
    return out
