"""`make demo`: the whole pipeline on a fresh local broker, end to end, then a summary."""

from __future__ import annotations

import random
import shutil
import time
from decimal import Decimal

from claimflow import topics
from claimflow.admin import create_topics
from claimflow.codec import Codec
from claimflow.kafka_local import LocalBroker
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow.services import SERVICES, spawn, wait_assigned, wait_healthy
from claimflow.settings import REPO_ROOT, Settings, get_settings
from claimflow.synthetic import EncounterGenerator, adjudication_for

OUTCOME_TOPICS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)


def run_demo(count: int = 200, keep_running: bool = False, seed: int = 7) -> dict:
    base = get_settings()
    root = REPO_ROOT / "var" / "demo"
    shutil.rmtree(root, ignore_errors=True)
    settings = Settings(**{**base.model_dump(), "data_dir": root / "services"})
    broker = LocalBroker(data_dir=root / "kafka", port=base.local_kafka_port, controller_port=base.local_kafka_controller_port,
                         heap=base.local_kafka_heap, settings=settings)
    env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": broker.bootstrap, "CLAIMFLOW_DATA_DIR": str(settings.data_dir)}
    procs = []
    t0 = time.monotonic()
    try:
        print(f"starting Kafka {base.kafka_version} (KRaft) on {broker.bootstrap} ...", flush=True)
        broker.start()
        t_broker = time.monotonic() - t0
        report = create_topics(settings)
        print(f"broker ready in {t_broker:.1f}s; topics created: {len(report.created)}", flush=True)
        for service in SERVICES:
            procs.append(spawn(service, root / "logs", env))
        for p in procs:
            wait_healthy(p.service, settings.port_for(p.service), proc=p)
            wait_assigned(p)
        print(f"services up: {', '.join(SERVICES)}", flush=True)

        gen = EncounterGenerator(seed=seed, defect_rate=0.1)
        encounters = []
        clean = []
        for i in range(count):
            enc, defect = gen.encounter(i)
            encounters.append(enc)
            if defect is None:
                clean.append(enc)
        t_pub = time.monotonic()
        publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
        rng = random.Random(seed + 1)
        adjudications = []
        for enc in clean:
            if rng.random() < 0.5:
                adjudications.append(adjudication_for(enc, rng, deny=rng.random() < 0.25, denial_carc=rng.choice(["50", "197", "16"])))
        denials = sum(1 for a in adjudications if a.claim_status_code == "4")
        publish_records(topics.ADJUDICATIONS, adjudications, "claim_id", settings)
        print(f"published {len(encounters)} encounters and {len(adjudications)} adjudications ({denials} denials)", flush=True)

        names = [t.name for t in OUTCOME_TOPICS] + [topics.APPEALS.name]

        def done() -> bool:
            s = topic_sizes(names, settings)
            return sum(s[t.name] for t in OUTCOME_TOPICS) >= count and s[topics.APPEALS.name] >= denials

        finished = wait_for(done, timeout=180)
        elapsed = time.monotonic() - t_pub
        sizes = topic_sizes([t.name for t in topics.ALL_TOPICS], settings)
        codec = Codec()
        at_risk = Decimal("0.00")
        for rec in read_topic(topics.APPEALS.name, settings):
            at_risk += Decimal(codec.decode(rec.value, "DenialWorkItem")["denied_amount"])
        summary = {
            "completed": finished,
            "encounters_in": len(encounters),
            "coded": sizes[topics.ENCOUNTERS_CODED.name],
            "sent_to_coding_review": sizes[topics.CODING_REVIEW.name],
            "claims_emitted": sizes[topics.CLAIMS.name],
            "claims_held": sizes[topics.CLAIMS_HELD.name],
            "adjudications_ingested": sizes[topics.ADJUDICATIONS.name],
            "claim_status_events": sizes[topics.CLAIMS_STATUS.name],
            "appeals_routed": sizes[topics.APPEALS.name],
            "appeal_dollars_at_risk": str(at_risk),
            "dead_letters": sum(sizes[t.name] for t in topics.ALL_TOPICS if t.is_dlq),
            "broker_start_seconds": round(t_broker, 1),
            "pipeline_seconds": round(elapsed, 1),
        }
        return summary
    finally:
        if not keep_running:
            for p in procs:
                p.stop()
            broker.stop()
