"""`claimflow topics create --catalog` with the Kubernetes ConfigMap's catalog on the real
broker: every catalog topic and table changelog exists afterwards with the catalog's
partition count, and a catalog that disagrees with the broker is reported."""

from __future__ import annotations

import yaml

from claimflow.admin import admin_client, create_topics
from claimflow.catalog import K8S_TOPICS_PATH
from claimflow.kafkaio import wait_for
from claimflow.settings import Settings
from claimflow.topics import ALL_TABLES, ALL_TOPICS


def test_k8s_catalog_creates_every_topic_and_changelog(kafka_broker, tmp_path):
    settings = Settings(kafka_bootstrap=kafka_broker.bootstrap, app_id_prefix="catalogcheck")
    catalog = tmp_path / "topics.yaml"
    catalog.write_text(yaml.safe_load(K8S_TOPICS_PATH.read_text())["data"]["topics.yaml"])

    first = create_topics(settings, catalog=catalog)
    assert first.mismatched == []
    changelogs = {t.changelog("catalogcheck") for t in ALL_TABLES}
    assert changelogs <= set(first.created)  # a fresh prefix: its changelogs are new
    wanted = {t.name for t in ALL_TOPICS} | changelogs
    admin = admin_client(settings)
    try:  # a new topic reaches the metadata a moment after CreateTopics returns
        assert wait_for(lambda: wanted <= set(admin.list_topics()), timeout=30), wanted - set(admin.list_topics())
    finally:
        admin.close()

    again = create_topics(settings, catalog=catalog)
    assert again.created == [] and again.mismatched == []

    doc = yaml.safe_load(catalog.read_text())
    doc["topics"][0]["partitions"] += 3
    catalog.write_text(yaml.safe_dump(doc))
    drifted = create_topics(settings, catalog=catalog)
    assert any(m.startswith(f"{doc['topics'][0]['name']} has ") for m in drifted.mismatched), drifted.mismatched
