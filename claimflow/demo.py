"""`make demo`: the whole pipeline on a fresh local broker, end to end, then a summary."""

from __future__ import annotations

import shutil
import time
from decimal import Decimal

from claimflow import topics
from claimflow.admin import create_topics
from claimflow.codec import Codec
from claimflow.kafka_local import LocalBroker
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow.services import spawn, wait_assigned, wait_healthy
from claimflow.settings import REPO_ROOT, Settings, get_settings
from claimflow.synthetic import EncounterGenerator

OUTCOME_TOPICS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
DEMO_SERVICES = ("coder", "scrubber", "adjudicator", "payer-sim")


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
        for service in DEMO_SERVICES:
            procs.append(spawn(service, root / "logs", env))
        for p in procs:
            wait_healthy(p.service, settings.port_for(p.service), proc=p)
            wait_assigned(p)
        print(f"services up: {', '.join(DEMO_SERVICES)}", flush=True)
        from services.workbench import demo as workbench_demo  # the review queue and held claims, worked in a browser

        wb_procs, workbench = workbench_demo.start(settings, env, root / "logs")
        procs += wb_procs

        gen = EncounterGenerator(seed=seed, defect_rate=0.1)
        encounters = [gen.encounter(i)[0] for i in range(count)]
        t_pub = time.monotonic()
        publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
        print(f"published {len(encounters)} encounters; the payer simulator adjudicates every clean claim", flush=True)

        names = [t.name for t in OUTCOME_TOPICS] + [topics.ADJUDICATIONS.name, topics.CLAIMS.name]

        def done() -> bool:
            s = topic_sizes(names, settings)
            return sum(s[t.name] for t in OUTCOME_TOPICS) >= count and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name]

        finished = wait_for(done, timeout=180)
        time.sleep(3)  # let the adjudicator post the last remittances
        elapsed = time.monotonic() - t_pub
        sizes = topic_sizes([t.name for t in topics.ALL_TOPICS], settings)
        codec = Codec()
        paid = charged = Decimal("0.00")
        denials_by_group: dict[str, int] = {}
        for rec in read_topic(topics.ADJUDICATIONS.name, settings):
            adj = codec.decode(rec.value, "Adjudication")
            paid += adj["paid_amount"]
            charged += adj["total_charge"]
            adjustments = adj["claim_adjustments"] + [a for line in adj["service_lines"] for a in line["adjustments"]]
            for a in adjustments:  # denial reasons: anything but fee-schedule (CO-45) and patient shares
                if a["group_code"] != "PR" and not (a["group_code"] == "CO" and a["reason_code"] == "45"):
                    key = f"{a['group_code']}-{a['reason_code']}"
                    denials_by_group[key] = denials_by_group.get(key, 0) + 1
        at_risk = Decimal("0.00")
        dispositions: dict[str, int] = {}
        for rec in read_topic(topics.APPEALS.name, settings):
            item = codec.decode(rec.value, "DenialWorkItem")
            at_risk += item["denied_amount"]
        for rec in read_topic(topics.CLAIMS_STATUS.name, settings):
            ev = codec.decode(rec.value, "ClaimStatusChanged")
            if ev["disposition"]:
                dispositions[ev["disposition"]] = dispositions.get(ev["disposition"], 0) + 1
        summary = {
            "completed": finished,
            "encounters_in": len(encounters),
            "coded": sizes[topics.ENCOUNTERS_CODED.name],
            "sent_to_coding_review": sizes[topics.CODING_REVIEW.name],
            "claims_emitted": sizes[topics.CLAIMS.name],
            "claims_held": sizes[topics.CLAIMS_HELD.name],
            "adjudications_ingested": sizes[topics.ADJUDICATIONS.name],
            "charged": str(charged),
            "paid": str(paid),
            "denials_by_reason": dict(sorted(denials_by_group.items())),
            "denial_dispositions": dict(sorted(dispositions.items())),
            "appeals_routed": sizes[topics.APPEALS.name],
            "appeal_dollars_at_risk": str(at_risk),
            "corrections_requested": sizes[topics.CLAIMS_CORRECTIONS.name],
            "patient_bills": sizes[topics.PATIENT_BILLING.name],
            "claim_status_events": sizes[topics.CLAIMS_STATUS.name],
            "dead_letters": sum(sizes[t.name] for t in topics.ALL_TOPICS if t.is_dlq),
            "broker_start_seconds": round(t_broker, 1),
            "pipeline_seconds": round(elapsed, 1),
            "workbench": workbench,
        }
        return summary
    finally:
        if not keep_running:
            for p in procs:
                p.stop()
            broker.stop()
