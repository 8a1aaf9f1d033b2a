"""The Python topic registry and deploy/topics.yaml describe the same topics."""

from claimflow import topics
from claimflow.schemas import default_store
from claimflow.services import SERVICES
from claimflow.topics import ALL_TABLES, ALL_TOPICS, load_catalog, load_tables


def test_registry_and_catalog_agree():
    _, catalog = load_catalog()
    by_name = {c.name: c for c in catalog}
    assert set(by_name) == {t.name for t in ALL_TOPICS}
    for spec in ALL_TOPICS:
        cfg = by_name[spec.name]
        assert cfg.key == spec.key, spec.name
        assert cfg.value == spec.value, spec.name
        assert cfg.partitions >= 1 and cfg.retention_ms > 0 and cfg.cleanup_policy in ("delete", "compact")


def test_values_are_contracts_or_raw():
    names = set(default_store().names())
    for spec in ALL_TOPICS:
        assert spec.is_dlq or spec.value in names, spec.name


def test_topic_names_follow_the_convention():
    import re

    for spec in ALL_TOPICS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*(\.[a-z]+(-[a-z]+)*)*\.v[0-9]+", spec.name), spec.name


def test_one_dlq_per_consuming_service():
    # the workbench projector consumes too; it runs beside the pipeline (claimflow workbench project)
    assert set(topics.DLQ_BY_SERVICE) == set(SERVICES) | {"workbench"}
    assert all(t.is_dlq for t in topics.DLQ_BY_SERVICE.values())


def test_tables_are_declared_in_catalog_and_copartitioned():
    assert load_tables() == [(t.service, t.table, t.source.name) for t in ALL_TABLES]
    parts = {c.name: c.partitions for c in load_catalog()[1]}
    for t in ALL_TABLES:
        assert t.source.name in parts
        assert t.changelog("claimflow") == f"claimflow-{t.service}-{t.table}-changelog"
