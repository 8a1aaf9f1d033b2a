"""Workbench benchmark (`make bench-workbench`; not a test). Prints figures, asserts nothing.

1. Queue list page, server time: 100,000 open review items bulk-loaded into the read model
   (SQLite file, then a real PostgreSQL server started by tests/pg_harness.py); the queue
   view is requested through Django's test client as a logged-in coder (routing, role
   check, access audit published to a real broker, query, template) for the default page,
   each filter (reason, payer, date of service, age in queue), each sort, combinations,
   page 41 (reached by following the page's own "next" links) and a page 75,000 items
   deep; p50 / p95 / max per database and p95 per URL, against the 200 ms target.
2. Projector throughput into SQLite:
   a. the apply function alone, in this process: N events (half EncounterEvent, half
      CodingReviewItem) applied one event per transaction (``projection.project``, the
      baseline, measured in the same run) and, where the code has it, in batches of 500 in
      one transaction each (``projection.apply_batch``); events/s and the ratio;
   b. end to end on Kafka: the same mix pre-loaded on their topics, then the projector
      process (`claimflow workbench project`) consumes them with a fresh consumer group;
      events/s = N / (time from the projector being ready to the read model holding every
      item).
The bench runs unchanged against an older checkout (it falls back to ``?page=N`` and to
the per-event apply where the newer code is absent), so before/after figures come from
one sitting.

Ports (flags): Kafka --kafka-port (+1 controller), PostgreSQL and projector --port-base and
+1 (or --pg-port / --projector-port). Every process started here is stopped in finally
blocks. Synthetic records only.

    .venv/bin/python bench/workbench_bench.py [--items 100000] [--per-query 15] [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERIES = ["/", "/?reason=DX_HEADER_CODE", "/?reason=MISSING_DOCUMENTATION", "/?payer=PAYER-07",
           "/?dos_from=2026-05-01&dos_to=2026-05-31", "/?min_age_days=20", "/?sort=-age", "/?sort=dos", "/?sort=-dos",
           "/?sort=payer", "/?sort=confidence", "/?sort=-confidence", "/?min_age_days=20&sort=confidence",
           "/?reason=EM_UNSUPPORTED&payer=PAYER-03&sort=dos", "/?payer=PAYER-11&dos_from=2026-03-01&sort=-age"]
REASONS = ["DX_HEADER_CODE", "DX_UNMAPPED_SNOMED", "EM_UNSUPPORTED", "PROC_UNKNOWN_CODE", "MISSING_DOCUMENTATION", "DX_LOW_CONFIDENCE"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def queue_child(db_url: str, bootstrap: str, items: int, per_query_requests: int, data_dir: str) -> None:
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
    from django.db import connection

    with connection.cursor() as cur:  # planner statistics, as a running projector keeps them: the same for old and new code
        cur.execute("ANALYZE")
    user, _ = User.objects.get_or_create(username="bench-coder")
    user.groups.set(Group.objects.filter(name="coder"))
    client = Client()
    client.force_login(user)
    urls = {q: q for q in QUERIES}  # label -> URL
    for start in ("/", "/?reason=DX_HEADER_CODE&sort=-dos"):  # page 41, by the page's own "next" links
        url = start
        for _ in range(40):
            m = re.search(r'href="(\?[^"]*)" id="next-page"', client.get(url).content.decode())
            url = "/" + m.group(1).replace("&amp;", "&")
        urls[f"page 41 of {start}"] = url
    deep = min(1500, items // 100)
    urls[f"page {deep + 1:,} of / ({deep * 50:,} items deep)"] = deep_url(deep)
    for q in urls.values():  # warm-up: connections, templates, the producer
        assert client.get(q).status_code == 200
    per_query: dict[str, list[float]] = {label: [] for label in urls}
    times = []
    labels = list(urls)
    for n in range(per_query_requests * len(labels)):
        label = labels[n % len(labels)]
        t = time.perf_counter()
        resp = client.get(urls[label])
        dt = (time.perf_counter() - t) * 1000
        assert resp.status_code == 200 and b"item-link" in resp.content, label
        times.append(dt)
        per_query[label].append(dt)
    from services.workbench.publish import close

    close()
    by_query = {label: round(pct(v, 95), 1) for label, v in per_query.items()}
    print(json.dumps({"items": ReviewItem.objects.count(), "load_seconds": round(load_s, 1), "requests": len(times),
                      "p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1), "max_ms": round(max(times), 1),
                      "worst_query_p95_ms": max(by_query.values()), "p95_ms_by_query": by_query}))


def deep_url(page: int) -> str:
    """The default sort's page ``page`` + 1: a keyset cursor where the code pages by seek, else ?page=."""
    try:
        from services.workbench.queue import SORTS, encode_cursor
    except ImportError:
        return f"/?page={page + 1}"
    from services.workbench.models import ReviewItem

    row = ReviewItem.objects.filter(status="open").order_by("routed_at", "encounter_id")[page * 50 - 1]
    return f"/?after={encode_cursor(0, (row.routed_at, row.encounter_id))}&n={page + 1}"


def _events(prefix: str, n_pairs: int) -> list:
    from claimflow import topics
    from claimflow.models import CodingReviewItem, ReviewReason
    from tests.unit.workbench.builders import encounter

    base, now, out = encounter(), datetime.now(timezone.utc), []
    for i in range(n_pairs):
        eid = f"ENC-{prefix}-{i:07d}"
        out.append((topics.ENCOUNTERS.name, base.model_copy(update={"encounter_id": eid}), None))
        out.append((topics.CODING_REVIEW.name, CodingReviewItem(
            encounter_id=eid, encounter_version=1, routed_at=now, confidence=0.5, coder_version="bench",
            reasons=[ReviewReason(code="DX_HEADER_CODE", message="synthetic")]), None))
    return out


def apply_child(db_url: str, n_events: int, data_dir: str) -> None:
    """The projector's apply function into a SQLite file: per event vs per batch, same run."""
    from claimflow.settings import Settings
    from services.workbench import config
    from services.workbench.django_setup import migrate

    config.use(Settings(data_dir=Path(data_dir), workbench_database_url=db_url))
    migrate()
    from services.workbench import projection

    result = {"events": n_events}
    one = _events("ONE", min(n_events, 4000) // 2)
    t = time.perf_counter()
    for topic, record, at in one:
        projection.project(topic, record, at)
    result["per_event_events_per_second"] = round(len(one) / (time.perf_counter() - t))
    if hasattr(projection, "apply_batch"):
        many = _events("BATCH", n_events // 2)
        t = time.perf_counter()
        for i in range(0, len(many), 500):
            projection.apply_batch(many[i:i + 500])
        result["batch_of_500_events_per_second"] = round(len(many) / (time.perf_counter() - t))
        t = time.perf_counter()
        for i in range(0, len(many), 500):  # the same events again: redelivery, nothing changes
            projection.apply_batch(many[i:i + 500])
        result["batch_redelivered_events_per_second"] = round(len(many) / (time.perf_counter() - t))
        result["ratio_batch_to_per_event"] = round(result["batch_of_500_events_per_second"] / result["per_event_events_per_second"], 1)
    print(json.dumps(result))


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
    ap.add_argument("--per-query", type=int, default=15, help="timed requests per URL")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--kafka-port", type=int, default=20330)
    ap.add_argument("--port-base", type=int, default=None, help="PostgreSQL on it, the projector on it + 1")
    ap.add_argument("--pg-port", type=int, default=20332)
    ap.add_argument("--projector-port", type=int, default=20333)
    ap.add_argument("--skip", choices=["queue", "queue-sqlite", "queue-postgresql", "projector"], action="append", default=[])
    ap.add_argument("--child", nargs=5, metavar=("DB_URL", "BOOTSTRAP", "ITEMS", "REQUESTS", "DATA_DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--apply-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.port_base is not None:
        a.pg_port, a.projector_port = a.port_base, a.port_base + 1
    if a.child:
        queue_child(a.child[0], a.child[1], int(a.child[2]), int(a.child[3]), a.child[4])
        return
    if a.apply_child:
        apply_child(a.apply_child[0], int(a.apply_child[1]), a.apply_child[2])
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
            if "queue-sqlite" not in a.skip:
                result["queue_sqlite"] = run_child(["--child", f"sqlite:///{root}/queue.sqlite3", broker.bootstrap, str(a.items),
                                                    str(a.per_query), str(root / "d1")])
                print("queue page, SQLite:", json.dumps(result["queue_sqlite"]), flush=True)
            if "queue-postgresql" not in a.skip:
                pg = LocalPostgres(port=a.pg_port).start()
                result["queue_postgresql"] = run_child(["--child", pg.create_database("wbbench"), broker.bootstrap, str(a.items),
                                                        str(a.per_query), str(root / "d2")])
                print("queue page, PostgreSQL:", json.dumps(result["queue_postgresql"]), flush=True)
        if "projector" not in a.skip:
            result["projector_apply_sqlite"] = run_child(["--apply-child", f"sqlite:///{root}/apply.sqlite3", str(a.events),
                                                          str(root / "d3")])
            print("projector apply function into SQLite:", json.dumps(result["projector_apply_sqlite"]), flush=True)
            result["projector_sqlite"] = projector_bench(broker.bootstrap, a.events, a.projector_port, root)
            print("projector on Kafka into SQLite, end to end:", json.dumps(result["projector_sqlite"]), flush=True)
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
