"""Workbench benchmark (`make bench-workbench`; not a test). Prints figures, asserts nothing.

1. Queue list page, server time: 100,000 open review items bulk-loaded into the read model
   (SQLite file, then a real PostgreSQL server started by tests/pg_harness.py); the queue
   view is requested through Django's test client as a logged-in coder (routing, role
   check, access audit published to a real broker, query, template) for a mix of filters,
   sorts and pages; p50 / p95 / max per database.
2. Projector throughput into SQLite: N events (half EncounterEvent, half CodingReviewItem)
   pre-loaded on their topics, then the projector process (`claimflow workbench project`)
   consumes them with a fresh consumer group; events/s = N / (time from the projector
   being ready to the read model holding every item).

Ports (flags): Kafka 20330/20331, PostgreSQL 20332, projector 20333. Every process started
here is stopped in finally blocks. Synthetic records only.

    .venv/bin/python bench/workbench_bench.py [--items 100000] [--requests 200] [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERIES = ["/", "/?sort=-age", "/?reason=DX_HEADER_CODE", "/?payer=PAYER-07", "/?dos_from=2026-05-01&dos_to=2026-05-31",
           "/?min_age_days=20&sort=confidence", "/?page=40", "/?reason=EM_UNSUPPORTED&payer=PAYER-03&sort=dos", "/?page=1500"]
REASONS = ["DX_HEADER_CODE", "DX_UNMAPPED_SNOMED", "EM_UNSUPPORTED", "PROC_UNKNOWN_CODE", "MISSING_DOCUMENTATION", "DX_LOW_CONFIDENCE"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def queue_child(db_url: str, bootstrap: str, items: int, requests: int, data_dir: str) -> None:
    """In a child process (one Django configuration per process): load, then time the view."""
    from claimflow.settings import Settings
    from services.workbench import config
    from services.workbench.django_setup import migrate

    config.use(Settings(kafka_bootstrap=bootstrap, data_dir=Path(data_dir), workbench_database_url=db_url))
    migrate()
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from services.workbench.models import ReviewItem, ReviewItemReason

    rng = random.Random(13)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    batch, reasons = [], []
    for i in range(items):
        codes = rng.sample(REASONS, k=rng.randint(1, 2))
        batch.append(ReviewItem(
            encounter_id=f"ENC-BENCH-{i:07d}", encounter_version=1, routed_at=now - timedelta(minutes=rng.randint(0, 60 * 24 * 45)),
            status="open", primary_reason=codes[0], reason_codes=" ".join(codes),
            reasons=[{"code": c, "message": "synthetic", "subject": None, "candidates": []} for c in codes],
            confidence=round(rng.random(), 3), proposed_diagnoses=[], proposed_service_lines=[], coder_version="bench",
            payer_id=f"PAYER-{rng.randint(0, 19):02d}", date_of_service=date(2026, 1, 1) + timedelta(days=rng.randint(0, 300))))
        reasons += [(f"ENC-BENCH-{i:07d}", c) for c in codes]
        if len(batch) == 5000:
            ReviewItem.objects.bulk_create(batch)
            batch = []
    ReviewItem.objects.bulk_create(batch)
    ReviewItemReason.objects.bulk_create([ReviewItemReason(item_id=e, code=c) for e, c in reasons], batch_size=5000)
    load_s = time.perf_counter() - t0
    user, _ = User.objects.get_or_create(username="bench-coder")
    user.groups.set(Group.objects.filter(name="coder"))
    client = Client()
    client.force_login(user)
    for q in QUERIES:  # warm-up: connections, templates, the producer
        assert client.get(q).status_code == 200
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    times = []
    for n in range(requests):
        q = QUERIES[n % len(QUERIES)]
        t = time.perf_counter()
        resp = client.get(q)
        dt = (time.perf_counter() - t) * 1000
        assert resp.status_code == 200
        times.append(dt)
        per_query[q].append(dt)
    from services.workbench.publish import close

    close()
    print(json.dumps({"items": ReviewItem.objects.count(), "load_seconds": round(load_s, 1), "requests": requests,
                      "p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1), "max_ms": round(max(times), 1),
                      "p95_ms_by_query": {q: round(pct(v, 95), 1) for q, v in per_query.items()}}))


def run_child(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def projector_bench(bootstrap: str, n_events: int, port: int, root: Path) -> dict:
    from claimflow import topics
    from claimflow.admin import create_topics
    from claimflow.codec import Codec
    from claimflow.kafkaio import producer
    from claimflow.models import CodingReviewItem, ReviewReason
    from claimflow.settings import Settings
    from tests.unit.workbench.builders import encounter

    settings = Settings(kafka_bootstrap=bootstrap)
    create_topics(settings)
    codec = Codec()
    p = producer(settings)
    n = n_events // 2
    base = encounter()
    now = datetime.now(timezone.utc)
    for i in range(n):
        eid = f"ENC-PROJ-{i:07d}"
        p.send(topics.ENCOUNTERS.name, key=eid.encode(),
               value=codec.encode("EncounterEvent", base.model_copy(update={"encounter_id": eid}).to_avro()))
        item = CodingReviewItem(encounter_id=eid, encounter_version=1, routed_at=now, confidence=0.5, coder_version="bench",
                                reasons=[ReviewReason(code="DX_HEADER_CODE", message="synthetic")])
        p.send(topics.CODING_REVIEW.name, key=eid.encode(), value=codec.encode("CodingReviewItem", item.to_avro()))
    p.flush()
    p.close()
    db = root / "proj.sqlite3"
    env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": bootstrap, "CLAIMFLOW_DATA_DIR": str(root / "data"), "CLAIMFLOW_PORT_WORKBENCH": str(port),
           "CLAIMFLOW_WORKBENCH_DATABASE_URL": f"sqlite:///{db}", "CLAIMFLOW_APP_ID_PREFIX": f"bench{int(time.time())}",
           "CLAIMFLOW_TABLE_STORE": "memory://"}
    from claimflow_app.services import ServiceProcess, wait_assigned, wait_healthy

    log = root / "projector.log"
    proc = ServiceProcess("workbench", subprocess.Popen([sys.executable, "-m", "claimflow_app.cli", "workbench", "project"],
                                                        stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                                        env={**os.environ, **env}), log)
    try:
        wait_healthy("workbench", port, proc=proc, timeout=180)
        wait_assigned(proc, timeout=180)
        t0 = time.monotonic()
        import sqlite3

        done = 0
        while time.monotonic() - t0 < 1800:
            try:
                with sqlite3.connect(db, timeout=5) as c:
                    done = c.execute("select count(*) from workbench_reviewitem where payer_id != ''").fetchone()[0]
            except sqlite3.OperationalError:
                pass
            if done >= n:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
    finally:
        proc.stop()
    return {"events": n_events, "seconds": round(elapsed, 1), "events_per_second": round(n_events / elapsed), "complete": done >= n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=180)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--kafka-port", type=int, default=20330)
    ap.add_argument("--pg-port", type=int, default=20332)
    ap.add_argument("--projector-port", type=int, default=20333)
    ap.add_argument("--skip", choices=["queue", "projector"], action="append", default=[])
    ap.add_argument("--child", nargs=5, metavar=("DB_URL", "BOOTSTRAP", "ITEMS", "REQUESTS", "DATA_DIR"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        queue_child(a.child[0], a.child[1], int(a.child[2]), int(a.child[3]), a.child[4])
        return
    from claimflow.admin import create_topics
    from claimflow.kafka_local import LocalBroker
    from claimflow.settings import Settings
    from tests.pg_harness import LocalPostgres

    root = Path(tempfile.mkdtemp(prefix="claimflow-wb-bench-"))
    broker = LocalBroker(data_dir=root / "kafka", port=a.kafka_port, controller_port=a.kafka_port + 1, heap="512m",
                         settings=Settings(kafka_bootstrap=f"127.0.0.1:{a.kafka_port}"))
    pg = None
    result: dict = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        broker.start()
        create_topics(Settings(kafka_bootstrap=broker.bootstrap))
        if "queue" not in a.skip:
            result["queue_sqlite"] = run_child(["--child", f"sqlite:///{root}/queue.sqlite3", broker.bootstrap, str(a.items),
                                                str(a.requests), str(root / "d1")])
            print("queue page, SQLite:", json.dumps(result["queue_sqlite"]), flush=True)
            pg = LocalPostgres(port=a.pg_port).start()
            result["queue_postgresql"] = run_child(["--child", pg.create_database("wbbench"), broker.bootstrap, str(a.items),
                                                    str(a.requests), str(root / "d2")])
            print("queue page, PostgreSQL:", json.dumps(result["queue_postgresql"]), flush=True)
        if "projector" not in a.skip:
            result["projector_sqlite"] = projector_bench(broker.bootstrap, a.events, a.projector_port, root)
            print("projector into SQLite:", json.dumps(result["projector_sqlite"]), flush=True)
    finally:
        if pg is not None:
            pg.stop()
        broker.stop()
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "workbench-latest.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
