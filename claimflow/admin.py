"""Topic administration from the topic catalog, claimflow/topics.py (idempotent)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from claimflow.catalog import load_catalog
from claimflow.reach import preflight
from claimflow.settings import Settings, get_settings
from claimflow.topics import DEFAULT_REPLICATION_FACTOR, topic_configs


@dataclass
class CreateReport:
    created: list[str]
    existing: list[str]
    mismatched: list[str]


def admin_client(settings: Settings) -> KafkaAdminClient:
    preflight(settings)
    return KafkaAdminClient(client_id="claimflow-admin", request_timeout_ms=15000, **settings.kafka_python_config())


def create_topics(settings: Settings | None = None, retries: int = 20, catalog: Path | None = None) -> CreateReport:
    """Create every catalog topic and table changelog that does not exist yet. ``catalog``:
    a rendered catalog file (deploy/topics.yaml format) to create instead of the built-in one."""
    settings = settings or get_settings()
    if catalog is not None:
        default_rf, configs = load_catalog(catalog, settings.app_id_prefix)
    else:
        default_rf, configs = DEFAULT_REPLICATION_FACTOR, topic_configs(settings.app_id_prefix)
    rf = settings.topic_replication_factor or default_rf
    last_exc: Exception | None = None
    for _ in range(retries):
        try:
            admin = admin_client(settings)
            try:
                return _create(admin, configs, rf)
            finally:
                admin.close()
        except KafkaError as exc:  # controller not ready yet, leader election...
            last_exc = exc
            time.sleep(0.5)
    raise RuntimeError(f"could not create topics: {last_exc!r}")


def _create(admin: KafkaAdminClient, catalog, rf: int) -> CreateReport:
    existing = set(admin.list_topics())
    report = CreateReport([], [], [])
    new = []
    for t in catalog:
        if t.name in existing:
            report.existing.append(t.name)
            continue
        new.append(NewTopic(t.name, t.partitions, rf, topic_configs={
            "retention.ms": str(t.retention_ms), "cleanup.policy": t.cleanup_policy,
            "min.insync.replicas": str(min(2, rf)),
        }))
    for topic in new:
        try:
            admin.create_topics([topic], timeout_ms=15000)
            report.created.append(topic.name)
        except TopicAlreadyExistsError:
            report.existing.append(topic.name)
    if report.existing:
        described = admin.describe_topics(report.existing)
        wanted = {t.name: t.partitions for t in catalog}
        for d in described:
            name = d.get("name") or d.get("topic")  # kafka-python 3.x says "name", 2.x said "topic"
            if len(d.get("partitions", [])) != wanted[name]:
                report.mismatched.append(f"{name} has {len(d.get('partitions', []))} partitions, catalog says {wanted[name]}")
    return report
