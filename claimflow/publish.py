"""Publish JSON-lines files of contract records to their topics (validated, Avro-encoded,
keyed by business id). Rejected lines are reported by line number and field location,
never with their content."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from pydantic import ValidationError

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import iter_lines, producer
from claimflow.models import Adjudication, Contract, EncounterEvent, safe_errors
from claimflow.settings import Settings, get_settings

KINDS: dict[str, tuple[topics.TopicSpec, type[Contract], str]] = {
    "encounters": (topics.ENCOUNTERS, EncounterEvent, "encounter_id"),
    "adjudications": (topics.ADJUDICATIONS, Adjudication, "claim_id"),
}


@dataclass
class PublishReport:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def publish_file(kind: str, path: str, settings: Settings | None = None, progress: bool = True) -> PublishReport:
    settings = settings or get_settings()
    spec, model, key_field = KINDS[kind]
    codec = Codec()
    report = PublishReport()
    lines = list(iter_lines(path))
    prod = producer(settings)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(lines), unit="rec", desc=f"publish {kind}", file=sys.stderr)
    try:
        futures = []
        for n, line in lines:
            try:
                record = model.model_validate_json(line)
            except ValidationError as exc:
                report.rejected.append((n, safe_errors(exc)))
            except (ValueError, json.JSONDecodeError) as exc:
                report.rejected.append((n, f"not valid JSON: {type(exc).__name__}"))
            else:
                value = codec.encode(spec.value, record.to_avro())
                futures.append(prod.send(spec.name, key=getattr(record, key_field).encode(), value=value))
                report.accepted += 1
            if bar:
                bar.update(1)
        prod.flush()
        for f in futures:
            f.get(timeout=30)
    finally:
        prod.close()
        if bar:
            bar.close()
    return report


def publish_records(spec: topics.TopicSpec, records: list[Contract], key_field: str, settings: Settings | None = None) -> int:
    codec = Codec()
    prod = producer(settings or get_settings())
    try:
        futures = [prod.send(spec.name, key=getattr(r, key_field).encode(), value=codec.encode(spec.value, r.to_avro())) for r in records]
        prod.flush()
        for f in futures:
            f.get(timeout=30)
        return len(futures)
    finally:
        prod.close()
