"""`make demo`: the whole pipeline on a fresh local broker of its own, end to end, then a
summary of this run's records only (services/ops/demo_run.py)."""

from __future__ import annotations

import shutil
import time

from claimflow import topics
from claimflow.admin import create_topics
from claimflow.kafkaio import wait_for
from claimflow.publish import publish_records
from claimflow_app.services import spawn, wait_assigned
from claimflow.settings import get_settings
from claimflow.synthetic import EncounterGenerator
from claimflow_app import demo_run
from claimflow_app.runner import stop_all, wait_up

DEMO_SERVICES = demo_run.DEMO_SERVICES
# the coder loads its code sets and search index before it serves /healthz: 20-40 s alone on
# 2 busy cores, past 60 s when four services start at once on a shared machine
START_TIMEOUT_SECONDS = 150.0


def run_demo(count: int = 200, keep_running: bool = False, seed: int = 7, bootstrap: str | None = None) -> dict:
    base = get_settings()
    plan = demo_run.plan_demo(base, bootstrap)  # refuses when a port it needs is taken
    settings, root, broker = plan.settings, plan.root, plan.broker
    if broker is not None:
        shutil.rmtree(root, ignore_errors=True)
    procs = []
    t0 = time.monotonic()
    t_broker = 0.0
    workbench = None  # only with a broker of its own: the demo's workbench reads the demo's topics
    completed = False  # --keep-running keeps a demo that ran; a failed start-up or run is always stopped
    try:
        if broker is not None:
            print(f"starting Kafka {base.kafka_version} (KRaft) on {broker.bootstrap} ...", flush=True)
            broker.start()
            plan.check_own_broker()
            t_broker = time.monotonic() - t0
            report = create_topics(settings)
            print(f"broker ready in {t_broker:.1f}s; topics created: {len(report.created)}", flush=True)
            for service in DEMO_SERVICES:
                procs.append(spawn(service, root / "logs", plan.env))
            print(f"starting {', '.join(DEMO_SERVICES)} (logs in {root / 'logs'}) ...", flush=True)
            wait_up(procs, settings, timeout=START_TIMEOUT_SECONDS, echo=lambda line: print(line, flush=True))
            for p in procs:
                wait_assigned(p)
            print(f"services up and assigned: {', '.join(DEMO_SERVICES)}", flush=True)
            from claimflow_app import workbench_demo  # the review queue and held claims, worked in a browser

            wb_procs, workbench = workbench_demo.start(settings, plan.env, root / "logs")
            procs += wb_procs
        else:
            print(f"using the broker you named at {settings.kafka_bootstrap}: the services running there process the demo's "
                  f"encounters (ids end in -{plan.run_tag}); the figures count this run's records only", flush=True)

        if plan.run_tag:  # on a shared broker, fresh visits: the same seed again would be duplicate claims (and held as such)
            seed = int(plan.run_tag, 16)
        gen = EncounterGenerator(seed=seed, defect_rate=0.1)
        encounters = demo_run.tag_encounters([gen.encounter(i)[0] for i in range(count)], plan.run_tag)
        window = demo_run.open_window(encounters, settings)
        t_pub = time.monotonic()
        publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)
        print(f"published {len(encounters)} encounters; the payer simulator adjudicates every clean claim", flush=True)

        def done() -> bool:
            reached, clean, adjudicated = demo_run.progress(window, encounters)
            return reached >= count and adjudicated >= clean

        finished = wait_for(done, timeout=180, interval=2.0)
        time.sleep(3)  # let the adjudicator post the last remittances
        filed = 0
        if workbench is not None:  # a biller works the top of the worklist: the simulator answers, the dashboard shows it
            filed = demo_run.file_top_appeals(window, settings, actor=workbench["user"])
            print(f"the demo biller filed the {filed} highest-priority appeals; waiting for the payer simulator's answers", flush=True)
            wait_for(lambda: len(window.own(topics.APPEAL_OUTCOMES.name)) >= filed, timeout=60, interval=2.0)
        elapsed = time.monotonic() - t_pub
        summary = demo_run.collect(window, encounters, finished)
        summary["broker_start_seconds"] = round(t_broker, 1)
        summary["pipeline_seconds"] = round(elapsed, 1)
        summary["workbench"] = workbench
        summary["appeals_filed_by_demo"] = filed
        completed = True
        return summary
    finally:
        if not (keep_running and completed):
            stop_all(procs)
            if broker is not None:
                broker.stop()
