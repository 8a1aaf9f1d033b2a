"""claimflow pipeline benchmark on a real local Kafka broker (`make bench`; not a test).

One run measures, on this machine (core count in the output):

1. pure logic, one core, no Kafka (bench/logic_bench.py in a child process): coder,
   scrubber (full-size synthetic PTP/MUE reference data), adjudicator; logic alone and
   logic + Avro decode/validate/encode.
2. per stage, on the broker: each stage's input topic is pre-loaded with the same encoded
   records; then a NULL Faust agent (bench/null_agent.py: make_app/raw_topic, decode and
   forward) and the stage itself each consume all of it with a fresh consumer group, alone.
   Rate = input records / (last - first output record timestamp); completion = the group's
   committed offsets reach the end of every topic it reads. Headline: stage/null.
3. end to end, every service a process (coder, scrubber with the full-size reference data,
   payer-sim, adjudicator):
   * saturation: N encounters published as fast as possible; encounters/s from the first
     publish to the last claim outcome (distinct encounter ids on claims.v1 +
     claims.held.v1 + coding.review.v1) seen by a consumer in this process;
   * latency at fixed offered loads (--rate, or --latency-fractions of the measured saturation, 0.2,0.5) for
     --latency-seconds, paced publishing: per encounter, publisher wall clock at send ->
     (a) wall clock when this process's consumer receives the outcome (headline), and
     (b) the outcome record's timestamp (CreateTime stamped by the emitting service's
     producer at send; same host clock);
   * memory: VmRSS and VmHWM (/proc/<pid>/status) of every service process after start-up
     (reference data loaded, idle) and after the run, and of the broker JVM.
   * batch size achieved: each service's claimflow_batch_records histogram from /metrics.
4. null pipeline (bench/null_pipeline.py): the same four processes, topics, hops and
   partition counts, handlers that decode and forward; end to end / null pipeline.
5. baseline (--baseline-repo PATH): the same end-to-end load against another checkout and
   its own venv, same broker, same run; end to end / baseline.
6. adjudicator memory: VmRSS while the adjudicator alone works through --adj-claims claims.

Writes var/bench/pipeline-<timestamp>.json and var/bench/latest.json.

    .venv/bin/python bench/pipeline_bench.py [--n 20000] [--m 5000] [--rate R] [--latency-seconds 30] [--baseline-repo PATH]

Ports: Kafka 23092 (controller 23093), services 23100.. (below the ephemeral port range) (flags). Every process started
here is stopped in finally blocks. Records are synthetic; nothing logged is PHI."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import common
from common import (REFDATA_DIR, REPO, VAR_BENCH, batch_report, clone_records, ensure_refdata, histogram_summary, load_records,
                    metric_series_count, percentile, proc_memory, ratio, rss_growth)

from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from claimflow import topics  # noqa: E402
from claimflow.admin import admin_client, create_topics  # noqa: E402
from claimflow.codec import Codec  # noqa: E402
from claimflow.ids import claim_id as make_claim_id  # noqa: E402
from claimflow.kafka_local import LocalBroker  # noqa: E402
from claimflow.kafkaio import producer  # noqa: E402
from claimflow_app.services import SERVICES, ServiceProcess, spawn, wait_healthy  # noqa: E402
from claimflow.settings import Settings  # noqa: E402
from claimflow.synthetic import EncounterGenerator  # noqa: E402
from null_agent import NULL_OUTPUT  # noqa: E402

OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
E2E_SERVICES = ("coder", "scrubber", "payer-sim", "adjudicator")
BATCH_METRIC = "claimflow_batch_records"  # Processor histogram: records per handled batch
ADJ_INPUTS = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CLAIMS_STATUS, topics.ADJUDICATIONS, topics.APPEAL_OUTCOMES)


@dataclass
class StageSpec:
    name: str
    reads: tuple[str, ...]  # every topic the stage's group consumes (internal ones included)
    outputs: tuple[str, ...]  # where its records go (timestamps give the processing span)
    null_inputs: tuple[str, ...]  # the pre-loaded topics the null agent reads


STAGES = {
    "coder": StageSpec("coder", (topics.ENCOUNTERS.name,), (topics.ENCOUNTERS_CODED.name, topics.CODING_REVIEW.name, topics.DLQ_CODER.name),
                       (topics.ENCOUNTERS.name,)),
    "scrubber": StageSpec("scrubber", (topics.ENCOUNTERS_CODED.name, topics.ENCOUNTERS_CODED_BY_DAY.name),
                          (topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.DLQ_SCRUBBER.name), (topics.ENCOUNTERS_CODED.name,)),
    "adjudicator": StageSpec("adjudicator", tuple(t.name for t in ADJ_INPUTS),
                             (topics.CLAIMS_STATUS.name, topics.APPEALS.name, topics.CLAIMS_CORRECTIONS.name, topics.PATIENT_BILLING.name,
                              topics.DLQ_ADJUDICATOR.name),
                             (topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.ADJUDICATIONS.name)),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.root = VAR_BENCH / f"run-{self.stamp}"
        self.base = Settings(kafka_bootstrap=f"127.0.0.1:{args.kafka_port}", data_dir=self.root / "data",
                             local_kafka_port=args.kafka_port, local_kafka_controller_port=args.kafka_port + 1,
                             **{f"port_{s.replace('-', '_')}": args.port_base + i for i, s in enumerate(SERVICES)})
        self.broker = LocalBroker(data_dir=self.root / "kafka", port=args.kafka_port, controller_port=args.kafka_port + 1,
                                  heap=args.broker_heap, settings=self.base)
        self.procs: list[ServiceProcess] = []
        self.created_prefixes: list[str] = []
        self._consumer: KafkaConsumer | None = None
        self._admin = None
        self.baseline_refdata: Path | None = None

    # --- plumbing ------------------------------------------------------------------------

    def settings(self, prefix: str) -> Settings:
        # own data dir per prefix: Faust's RocksDB table files are not named by app id
        return Settings(**{**self.base.model_dump(), "app_id_prefix": prefix, "data_dir": self.root / "data" / prefix})

    def env(self, s: Settings) -> dict[str, str]:
        env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": s.kafka_bootstrap, "CLAIMFLOW_DATA_DIR": str(s.data_dir),
               "CLAIMFLOW_APP_ID_PREFIX": s.app_id_prefix, "CLAIMFLOW_LOG_LEVEL": "info",
               "CLAIMFLOW_TABLE_STORE": s.table_store}
        env.update({f"CLAIMFLOW_PORT_{svc.replace('-', '_').upper()}": str(s.port_for(svc)) for svc in SERVICES})
        return env

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(enable_auto_commit=False, client_id="bench-offsets", **self.base.kafka_python_config())
        return self._consumer

    @property
    def admin(self):
        if self._admin is None:
            self._admin = admin_client(self.base)
        return self._admin

    def reset_topics(self, prefix: str) -> None:
        """Delete every catalog topic, earlier bench changelogs and the null output; create them
        again for ``prefix`` (fresh, empty topics for each phase)."""
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

        names = {t.name for t in topics.ALL_TOPICS} | {NULL_OUTPUT}
        existing = set(self.admin.list_topics())
        doomed = [t for t in existing if t in names or any(t.startswith(p + "-") for p in self.created_prefixes)]
        if doomed:
            try:
                self.admin.delete_topics(doomed, timeout_ms=30000)
            except UnknownTopicOrPartitionError:
                pass
            for _ in range(150):
                if not set(doomed) & set(self.admin.list_topics()):
                    break
                time.sleep(0.2)
        s = self.settings(prefix)
        for attempt in range(20):
            try:
                create_topics(s)
                self.admin.create_topics([NewTopic(NULL_OUTPUT, 4, 1)], timeout_ms=15000)
                break
            except TopicAlreadyExistsError:
                break
            except Exception:  # a deletion still settling: retry
                if attempt == 19:
                    raise
                time.sleep(0.5)
        self.created_prefixes.append(prefix)
        if self._consumer is not None:  # forget cached metadata of the deleted topics
            self._consumer.close()
            self._consumer = None

    def preload(self, records: list[tuple[str, bytes, bytes]]) -> None:
        prod = producer(self.base, client_id="bench-preload")
        try:
            for topic, key, value in records:
                prod.send(topic, key=key, value=value)
            prod.flush(timeout=120)
        finally:
            prod.close()

    def end_offsets(self, names) -> dict[TopicPartition, int]:
        tps = [TopicPartition(t, p) for t in names for p in sorted(self.consumer.partitions_for_topic(t) or [])]
        return self.consumer.end_offsets(tps) if tps else {}

    def committed(self, group: str) -> dict[TopicPartition, int]:
        got = self.admin.list_group_offsets({group: None}).get(group, {})
        return {tp: om.offset for tp, om in got.items() if om is not None and om.offset is not None and om.offset >= 0}

    def drained(self, group: str, reads) -> bool:
        end = self.end_offsets(reads)
        done = self.committed(group)
        return all(done.get(tp, 0) >= n for tp, n in end.items())

    def output_timestamps(self, names) -> list[int]:
        """CreateTime (ms) of every record on ``names`` (read from the beginning to the end)."""
        c = KafkaConsumer(enable_auto_commit=False, client_id="bench-reader", **self.base.kafka_python_config())
        try:
            tps = [TopicPartition(t, p) for t in names for p in sorted(c.partitions_for_topic(t) or [])]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            end = c.end_offsets(tps)
            left = {tp for tp in tps if end[tp] > 0}
            out: list[int] = []
            deadline = time.monotonic() + 120
            while left and time.monotonic() < deadline:
                for tp, msgs in c.poll(timeout_ms=500, max_records=5000).items():
                    out.extend(m.timestamp for m in msgs if m.offset < end[tp])
                    if c.position(tp) >= end[tp]:
                        left.discard(tp)
            return out
        finally:
            c.close()

    def start_process(self, service: str, s: Settings, log_dir: Path, argv: list[str] | None = None,
                      python: str | None = None, cwd: Path | None = None) -> ServiceProcess:
        """A service as its own process: the product's ``claimflow run`` unless ``argv`` says
        otherwise (the scrubber with reference data, the null agent), with ``python`` in ``cwd``
        (the baseline checkout's venv) when given."""
        if argv is None and python is None:
            p = spawn(service, log_dir, self.env(s))
        else:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{service}.log"
            env = {**os.environ, **self.env(s)}
            with open(log_path, "ab") as out:
                proc = subprocess.Popen([python or sys.executable, *argv], stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd or REPO)
            p = ServiceProcess(service, proc, log_path)
        self.procs.append(p)
        return p

    def scrubber_argv(self) -> list[str]:
        return [str(REPO / "bench" / "run_service.py"), "scrubber", "--refdata", str(self.args.refdata)]

    def wait_ready(self, p: ServiceProcess, port: int, timeout: float = 600.0) -> None:
        wait_healthy(p.service, port, timeout=timeout, proc=p)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.service} exited with {p.proc.returncode}; see {p.log_path}")
            if "Ready" in p.log_path.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{p.service} not ready after {timeout:.0f}s; see {p.log_path}")

    def stop_all(self) -> None:
        for p in self.procs:
            try:
                p.stop(timeout=30)
            except Exception as exc:  # keep stopping the others
                log(f"could not stop {p.service}: {exc!r}")
        self.procs = []

    def close(self) -> None:
        self.stop_all()
        for c in (self._consumer, self._admin):
            try:
                if c is not None:
                    c.close()
            except Exception:
                pass
        self.broker.stop()

    # --- phases --------------------------------------------------------------------------

    def logic(self, inputs_path: Path) -> dict:
        log(f"pure logic (one core, no Kafka): {self.args.m} encounters ...")
        cmd = [sys.executable, str(REPO / "bench" / "logic_bench.py"), "--count", str(self.args.m), "--refdata", str(self.args.refdata),
               "--pairs", str(self.args.pairs), "--mue", str(self.args.mue), "--write-inputs", str(inputs_path), "--json"]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"logic bench failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def one_stage_run(self, label: str, spec: StageSpec, reads, outputs, n_in: int, make_proc, port: int) -> dict:
        prefix = f"b{uuid.uuid4().hex[:6]}-{label.replace('/', '-')}"
        group = f"{prefix}-{spec.name}"
        s = self.settings(prefix)
        p = make_proc(s, group)
        t0 = time.monotonic()
        try:
            self.wait_ready(p, port)
            ready_s = time.monotonic() - t0
            deadline = time.monotonic() + self.args.stage_timeout
            ok = False
            while time.monotonic() < deadline:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"{label} exited with {p.proc.returncode}; see {p.log_path}")
                if self.drained(group, reads):
                    ok = True
                    break
                time.sleep(0.5)
            wall = time.monotonic() - t0
            mem = proc_memory(p.proc.pid)
        finally:
            p.stop()
            self.procs.remove(p)
        stamps = self.output_timestamps(outputs)
        span = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else float("nan")
        return {"completed": ok, "inputs": n_in, "outputs": len(stamps), "span_s": round(span, 3),
                "eps": round(n_in / span, 1) if span and span == span and span > 0 else None,
                "ready_s": round(ready_s, 1), "wall_s": round(wall, 1), "memory": mem, "group": group}

    def stage(self, name: str, records: list[tuple[str, bytes, bytes]]) -> dict:
        spec = STAGES[name]
        port = self.base.port_for(name)
        self.reset_topics(f"bs-{name}-{self.stamp[-7:-1]}")
        self.preload(records)
        n_in = len(records)
        log(f"stage {name}: {n_in} records pre-loaded on {', '.join(sorted({r[0] for r in records}))}")

        def null_proc(s, group):
            argv = [str(REPO / "bench" / "null_agent.py"), "--as", name, "--output", NULL_OUTPUT, *spec.null_inputs]
            # the null agent's app id is <prefix>-<stage>: a fresh group of its own
            return self.start_process(f"null-{name}", s, self.root / "logs" / f"null-{name}", argv)

        def stage_proc(s, group):
            argv = self.scrubber_argv() if name == "scrubber" else None
            return self.start_process(name, s, self.root / "logs" / f"stage-{name}", argv)

        null = self.one_stage_run(f"null-{name}", spec, spec.null_inputs, (NULL_OUTPUT,), n_in, null_proc, port)
        log(f"  null agent : {null['eps']} rec/s over {null['span_s']} s (completed={null['completed']})")
        real = self.one_stage_run(name, spec, spec.reads, spec.outputs, n_in, stage_proc, port)
        log(f"  {name:<11}: {real['eps']} rec/s over {real['span_s']} s (completed={real['completed']})")
        ratio = round(real["eps"] / null["eps"], 3) if real["eps"] and null["eps"] else None
        return {"null": null, "stage": real, "ratio": ratio}

    def adjudicator_memory(self, records: list[tuple[str, bytes, bytes]]) -> dict:
        """Adjudicator RSS as it works through --adj-claims claims (and their remittances):
        the per-stage inputs (claims, held claims, adjudications of --m encounters) copied
        under fresh claim/encounter/adjudication ids until there are enough claims, pre-loaded,
        then the real adjudicator alone consumes them while VmRSS is sampled against the
        claims its group has committed. Reported: RSS at 20% of the claims (after warm-up)
        and at 100%, and the growth between them per 100,000 claims."""
        a = self.args
        self.reset_topics(f"bm-adj-{self.stamp[-7:-1]}")
        copies = clone_records(records, a.adj_claims, (topics.CLAIMS.name, topics.CLAIMS_HELD.name))
        self.preload(copies)
        claim_topics = (topics.CLAIMS.name, topics.CLAIMS_HELD.name)
        n_claims = sum(1 for t, _, _ in copies if t in claim_topics)
        log(f"adjudicator memory: {len(copies):,} records pre-loaded ({n_claims:,} claims)")
        prefix = f"bm{uuid.uuid4().hex[:6]}-adj"
        group = f"{prefix}-adjudicator"
        s = self.settings(prefix)
        if a.adj_table_store:
            s = Settings(**{**s.model_dump(), "table_store": a.adj_table_store})
        reads = STAGES["adjudicator"].reads
        p = self.start_process("adjudicator", s, self.root / "logs" / "adj-memory")
        samples: list[tuple[int, float]] = []
        t0 = time.monotonic()
        try:
            self.wait_ready(p, s.port_for("adjudicator"))
            idle = proc_memory(p.proc.pid)
            samples.append((0, idle["rss_mib"]))
            deadline = time.monotonic() + a.stage_timeout * 3
            done = False
            while time.monotonic() < deadline:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"adjudicator exited with {p.proc.returncode}; see {p.log_path}")
                committed = self.committed(group)
                n = sum(v for tp, v in committed.items() if tp.topic in claim_topics)
                samples.append((n, proc_memory(p.proc.pid)["rss_mib"]))
                if self.drained(group, reads):
                    done = True
                    break
                time.sleep(1.0)
            end = proc_memory(p.proc.pid)
            metrics_text = self.metrics_text(s.port_for("adjudicator"))
        finally:
            p.stop()
            self.procs.remove(p)
        lo = int(n_claims * a.adj_warmup_fraction)
        growth = rss_growth(samples, lo, n_claims)
        out = {"claims": n_claims, "records": len(copies), "completed": done, "seconds": round(time.monotonic() - t0, 1),
               "table_store": s.table_store, "idle_rss_mib": idle["rss_mib"], "end_rss_mib": end["rss_mib"], "hwm_mib": end["hwm_mib"],
               "warmup_claims": lo, "rss_at_warmup": growth["at_lo"], "rss_at_end": growth["at_hi"],
               "growth_mib_per_100k": growth["growth_mib"], "samples": samples[:: max(1, len(samples) // 200)],
               "metric_series": metric_series_count(metrics_text)}
        log(f"  adjudicator RSS: idle {idle['rss_mib']} MiB, at {growth['at_lo']} claims, at {growth['at_hi']}; "
            f"growth {growth['growth_mib']} MiB per 100k claims (completed={done})")
        return out

    def metrics_text(self, port: int) -> str:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def e2e_argv(self, kind: str, svc: str) -> tuple[list[str] | None, str | None, Path | None]:
        """(argv, python, cwd) of one end-to-end process: the product (``kind`` real), the null
        pipeline (null) or the baseline checkout's own code and venv (baseline)."""
        if kind == "null":
            return [str(REPO / "bench" / "null_pipeline.py"), svc], None, None
        if kind == "baseline":
            base = self.args.baseline_repo
            py = str(base / ".venv" / "bin" / "python")
            if svc == "scrubber":
                return [str(base / "bench" / "run_service.py"), "scrubber", "--refdata", str(self.baseline_refdata)], py, base
            return ["-m", "claimflow.cli", "run", svc], py, base
        return (self.scrubber_argv() if svc == "scrubber" else None), None, None

    def scrape(self, s: Settings, services) -> dict[str, dict]:
        """The batch-size histogram of every service's /metrics (empty where the code has none)."""
        import urllib.request

        out = {}
        for svc in services:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.port_for(svc)}/metrics", timeout=5) as resp:
                    out[svc] = histogram_summary(resp.read().decode(), BATCH_METRIC)
            except OSError as exc:
                out[svc] = {"error": type(exc).__name__}
        return out

    def wait_drained(self, prefix: str, timeout: float) -> float:
        t = time.monotonic()
        groups = {"coder": STAGES["coder"].reads, "scrubber": STAGES["scrubber"].reads,
                  "payer-sim": (topics.CLAIMS.name,), "adjudicator": STAGES["adjudicator"].reads}
        while time.monotonic() - t < timeout:
            if all(self.drained(f"{prefix}-{svc}", reads) for svc, reads in groups.items()):
                break
            time.sleep(1.0)
        return time.monotonic() - t

    def e2e(self, kind: str = "real") -> dict:
        a = self.args
        prefix = f"be2e{kind[0]}-{self.stamp[-7:-1]}"
        self.reset_topics(prefix)
        s = self.settings(prefix)
        log_dir = self.root / "logs" / f"e2e-{kind}"
        procs = {}
        t0 = time.monotonic()
        for svc in E2E_SERVICES:
            argv, python, cwd = self.e2e_argv(kind, svc)
            procs[svc] = self.start_process(svc, s, log_dir, argv, python=python, cwd=cwd)
        for svc, p in procs.items():
            self.wait_ready(p, s.port_for(svc))
        log(f"end to end [{kind}]: {', '.join(E2E_SERVICES)} ready in {time.monotonic() - t0:.1f}s")
        mem_idle = {svc: proc_memory(p.proc.pid) for svc, p in procs.items()}

        codec = Codec()
        gen = EncounterGenerator(seed=a.seed, defect_rate=0.05)

        def make(lo: int, hi: int) -> list[tuple[str, bytes]]:
            out = []
            for i in range(lo, hi):
                enc = gen.encounter(i)[0]
                out.append((enc.encounter_id, codec.encode("EncounterEvent", enc.to_avro())))
            return out

        sat = make(0, a.n)
        claim_to_enc = {make_claim_id(eid, 1): eid for eid, _ in sat}
        watcher = OutcomeWatcher(self.base, claim_to_enc)
        watcher.start()
        latency: list[dict] = []
        batches: dict = {}
        drain_s = float("nan")
        try:
            # saturation ----------------------------------------------------------------
            prod = producer(self.base, client_id="bench-saturation")
            try:
                t_first = time.time()
                for eid, body in sat:
                    prod.send(topics.ENCOUNTERS.name, key=eid.encode(), value=body)
                prod.flush(timeout=300)
                t_published = time.time()
            finally:
                prod.close()
            ids = [eid for eid, _ in sat]
            ok = watcher.wait_all(ids, timeout=a.e2e_timeout)
            last = max((watcher.seen[e][0] for e in ids if e in watcher.seen), default=float("nan"))
            seen_n = sum(1 for e in ids if e in watcher.seen)
            sat_eps = seen_n / (last - t_first) if seen_n else 0.0
            log(f"  saturation [{kind}]: {seen_n}/{a.n} outcomes, {sat_eps:.1f} enc/s (published in {t_published - t_first:.1f}s)")
            saturation = {"n": a.n, "outcomes": seen_n, "completed": ok, "seconds": round(last - t_first, 2),
                          "eps": round(sat_eps, 1), "publish_seconds": round(t_published - t_first, 2),
                          "outcomes_by_topic": watcher.by_topic(ids)}
            batches["saturation"] = self.scrape(s, procs)

            # let payer-sim and adjudicator finish the saturation claims before pacing
            drain_s = self.wait_drained(prefix, a.e2e_timeout)
            log(f"  downstream drained {drain_s:.1f}s after the last outcome")

            # latency at fixed offered loads ------------------------------------------------
            lo = a.n
            rates = [(a.rate, "--rate")] if a.rate else [(max(1.0, round(f * sat_eps, 1)), f"{f:.0%} of saturation")
                                                         for f in a.latency_fractions]
            for rate, source in (rates if kind != "null" or a.null_latency else []):
                n_lat = max(1, int(rate * a.latency_seconds))
                lat = make(lo, lo + n_lat)
                lo += n_lat
                watcher.claim_to_enc.update({make_claim_id(eid, 1): eid for eid, _ in lat})
                sent_at: dict[str, float] = {}
                prod = producer(self.base, client_id="bench-paced", linger_ms=0)
                try:
                    start = time.time() + 0.2
                    for j, (eid, body) in enumerate(lat):
                        delay = start + j / rate - time.time()
                        if delay > 0:
                            time.sleep(delay)
                        now = time.time()
                        sent_at[eid] = now
                        prod.send(topics.ENCOUNTERS.name, key=eid.encode(), value=body, timestamp_ms=int(now * 1000))
                    prod.flush(timeout=120)
                    pace_s = time.time() - start
                finally:
                    prod.close()
                lat_ids = [eid for eid, _ in lat]
                lat_ok = watcher.wait_all(lat_ids, timeout=a.latency_seconds + 180)
                recv = sorted((watcher.seen[e][0] - sent_at[e]) * 1000 for e in lat_ids if e in watcher.seen)
                stamp = sorted(watcher.seen[e][1] - sent_at[e] * 1000 for e in lat_ids if e in watcher.seen)
                row = {"offered_rate": rate, "rate_source": source,
                       "n": n_lat, "outcomes": len(recv), "completed": lat_ok, "publish_seconds": round(pace_s, 1),
                       "achieved_rate": round(n_lat / pace_s, 1) if pace_s > 0 else None,
                       "receive_ms": {f"p{q}": round(percentile(recv, q), 1) for q in (50, 95, 99)} | {"max": round(recv[-1], 1) if recv else None},
                       "record_ts_ms": {f"p{q}": round(percentile(stamp, q), 1) for q in (50, 95, 99)}}
                latency.append(row)
                log(f"  latency [{kind}] @ {rate} enc/s ({source}): p50 {row['receive_ms']['p50']} ms, p95 {row['receive_ms']['p95']} ms, "
                    f"p99 {row['receive_ms']['p99']} ms ({len(recv)}/{n_lat})")
                self.wait_drained(prefix, 120)
            batches["end"] = self.scrape(s, procs)
        finally:
            watcher.stop()
            mem_end = {svc: proc_memory(p.proc.pid) for svc, p in procs.items()}
            broker_pid = self.broker.pid()
            mem_broker = proc_memory(broker_pid) if broker_pid else {}
            for p in procs.values():
                p.stop()
                self.procs.remove(p)
        sizes = dict(watcher.dlq_counts(self.base))
        memory = {svc: {"idle_rss_mib": mem_idle[svc]["rss_mib"], "end_rss_mib": mem_end[svc]["rss_mib"], "peak_hwm_mib": mem_end[svc]["hwm_mib"]}
                  for svc in procs}
        memory["kafka-broker (JVM)"] = {"idle_rss_mib": None, "end_rss_mib": mem_broker.get("rss_mib"), "peak_hwm_mib": mem_broker.get("hwm_mib")}
        return {"kind": kind, "saturation": saturation, "latency": latency, "drain_seconds": round(drain_s, 1), "memory": memory,
                "dead_letters": sizes, "batch_records": batch_report(batches)}


class OutcomeWatcher:
    """Consumes the three outcome topics in a thread and keeps, per encounter id, the first
    (receive wall clock, record timestamp ms, topic)."""

    def __init__(self, settings: Settings, claim_to_enc: dict[str, str]):
        self.settings = settings
        self.claim_to_enc = claim_to_enc
        self.seen: dict[str, tuple[float, int, str]] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="outcome-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("outcome consumer did not start")

    def _run(self) -> None:
        try:
            c = KafkaConsumer(enable_auto_commit=False, client_id="bench-outcomes", fetch_max_wait_ms=50,
                              **self.settings.kafka_python_config())
            try:
                tps = [TopicPartition(t.name, p) for t in OUTCOMES for p in sorted(c.partitions_for_topic(t.name) or [])]
                c.assign(tps)
                c.seek_to_beginning(*tps)
                self._ready.set()
                review = topics.CODING_REVIEW.name
                while not self._stop.is_set():
                    for tp, msgs in c.poll(timeout_ms=100).items():
                        now = time.time()
                        for m in msgs:
                            key = m.key.decode() if m.key else ""
                            eid = key if tp.topic == review else self.claim_to_enc.get(key)
                            if eid is not None and eid not in self.seen:
                                self.seen[eid] = (now, m.timestamp, tp.topic)
            finally:
                c.close()
        except BaseException as exc:  # surfaced by wait_all
            self._error = exc
            self._ready.set()

    def wait_all(self, ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        last_n, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"outcome consumer failed: {self._error!r}")
            n = sum(1 for e in ids if e in self.seen)
            if n == len(ids):
                return True
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > 120:  # nothing new for 2 minutes: give up
                return False
            time.sleep(0.2)
        return False

    def by_topic(self, ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in ids:
            if e in self.seen:
                out[self.seen[e][2]] = out.get(self.seen[e][2], 0) + 1
        return out

    def dlq_counts(self, settings: Settings):
        from claimflow.kafkaio import topic_sizes

        sizes = topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], settings)
        return sorted(sizes.items())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


# --- report -----------------------------------------------------------------------------


def render(r: dict) -> str:
    L = []
    m = r["meta"]
    L.append(f"claimflow pipeline bench  {m['started_at']}  cores={m['cpu_count']}  kafka={m['kafka_version']}  python={m['python']}")
    L.append(f"N={m['n']} (saturation)  M={m['m']} (per-stage encounters)  reference data: {m['ptp_pairs']:,} PTP pairs, {m['mue_codes']:,} MUE codes")
    if m.get("label"):
        L.append(f"label: {m['label']}")
    if m.get("load_average_start"):
        L.append(f"load average (1/5/15 min) at start {', '.join(f'{x:.1f}' for x in m['load_average_start'])}; "
                 f"at end {', '.join(f'{x:.1f}' for x in m.get('load_average_end') or ())}  (shared machine: compare stage/null, not raw rates)")
    titles = {"e2e": "END TO END (coder, scrubber[full refdata], payer-sim, adjudicator as processes)",
              "e2e_null": "NULL PIPELINE (same processes, topics, hops and partitions; handlers decode and forward)",
              "e2e_baseline": f"BASELINE END TO END ({m.get('baseline_repo')} at {m.get('baseline_commit')}, its own venv, same broker and load)"}
    for key in ("e2e_null", "e2e", "e2e_baseline"):
        e = r.get(key)
        if not e:
            continue
        s = e["saturation"]
        L.append("")
        L.append(titles[key])
        L.append(f"  saturation throughput  : {s['eps']:,.1f} encounters/s  ({s['outcomes']}/{s['n']} outcomes in {s['seconds']} s; "
                 f"publish took {s['publish_seconds']} s; {', '.join(f'{k} {v}' for k, v in sorted(s['outcomes_by_topic'].items()))})")
        for lat in e["latency"]:
            rc, ts = lat["receive_ms"], lat["record_ts_ms"]
            L.append(f"  latency @ {lat['offered_rate']} enc/s ({lat['rate_source']}, {lat['n']} enc over {lat['publish_seconds']} s, "
                     f"achieved {lat['achieved_rate']}/s, {lat['outcomes']} outcomes):")
            L.append(f"    publish -> consumer receive   : p50 {rc['p50']:>8.1f} ms   p95 {rc['p95']:>8.1f} ms   p99 {rc['p99']:>8.1f} ms   max {rc['max']} ms")
            L.append(f"    publish -> outcome CreateTime : p50 {ts['p50']:>8.1f} ms   p95 {ts['p95']:>8.1f} ms   p99 {ts['p99']:>8.1f} ms")
        L.append(f"  dead letters: {sum(e['dead_letters'].values())}; downstream drain after saturation {e['drain_seconds']} s")
        br = {k: v for k, v in (e.get("batch_records") or {}).items() if v.get("saturation_batches")}
        if br:
            L.append("  batch size achieved (claimflow_batch_records; mean records/batch at saturation [p50/p95 bucket], "
                     "then during the latency runs):")
            for svc, b in br.items():
                L.append(f"    {svc:<12} {_f(b['saturation_mean'], 1):>7} [{_f(b['saturation_p50_le'], 0)}/{_f(b['saturation_p95_le'], 0)}] "
                         f"over {b['saturation_batches']} batches; latency runs {_f(b['latency_mean'], 1)}")
        elif key != "e2e_null":
            L.append("  batch size achieved: no claimflow_batch_records histogram on /metrics (record-at-a-time code)")
    ra = r.get("ratios") or {}
    if any(ra.get(k) for k in ("e2e_over_null", "e2e_over_baseline")):
        L.append("")
        L.append("HEADLINE RATIOS (same run, same broker)")
        L.append(f"  end to end / null pipeline      : {_f(ra.get('e2e_over_null'), 3)}   (target >= 0.7)")
        L.append(f"  end to end / baseline           : {_f(ra.get('e2e_over_baseline'), 3)}   (target >= 5)")
        if ra.get("baseline_over_null"):
            L.append(f"  baseline end to end / null      : {_f(ra.get('baseline_over_null'), 3)}")
    am = r.get("adjudicator_memory")
    if am:
        L.append("")
        L.append(f"ADJUDICATOR MEMORY (alone, {am['claims']:,} claims + their remittances, {am['records']:,} records, table store {am['table_store']})")
        wl, we = am.get("rss_at_warmup"), am.get("rss_at_end")
        L.append(f"  VmRSS idle {am['idle_rss_mib']:.0f} MiB; at {wl[0] if wl else '-'} claims {_f(wl[1] if wl else None, 0)} MiB; "
                 f"at {we[0] if we else '-'} claims {_f(we[1] if we else None, 0)} MiB; peak {am['hwm_mib']:.0f} MiB")
        L.append(f"  growth after warm-up: {_f(am.get('growth_mib_per_100k'), 1)} MiB per 100,000 claims (target <= 50); "
                 f"{am['metric_series']} /metrics samples; completed={am['completed']} in {am['seconds']} s")
    st = r.get("stages")
    lg = r.get("logic")
    if st or lg:
        L.append("")
        L.append("PER STAGE (Kafka: fresh group, pre-loaded input, alone on the broker; logic: one core, no Kafka)")
        L.append(f"  {'stage':<12}{'inputs':>7}{'stage rec/s':>13}{'null rec/s':>12}{'stage/null':>12}{'logic ev/s':>12}{'logic+codec':>13}")
        for name in ("coder", "scrubber", "adjudicator"):
            row = (st or {}).get(name)
            lrow = (lg or {}).get(name, {})
            if row:
                L.append(f"  {name:<12}{row['stage']['inputs']:>7}{_f(row['stage']['eps']):>13}{_f(row['null']['eps']):>12}"
                         f"{_f(row['ratio'], 3):>12}{_f(lrow.get('logic_eps')):>12}{_f(lrow.get('codec_eps')):>13}")
            elif lrow:
                L.append(f"  {name:<12}{lrow.get('events', ''):>7}{'-':>13}{'-':>12}{'-':>12}{_f(lrow.get('logic_eps')):>12}{_f(lrow.get('codec_eps')):>13}")
        if st and "adjudicator" in st:
            L.append("  (adjudicator inputs = claims + held claims + adjudications; it also consumes its own claims.status.v1 events,")
            L.append("   which the null agent does not read)")
    e = r.get("e2e")
    if e:
        L.append("")
        L.append("MEMORY (MiB; VmRSS after start-up with reference data loaded / VmRSS at end / VmHWM peak)")
        for svc, mm in e["memory"].items():
            idle = "-" if mm["idle_rss_mib"] is None else f"{mm['idle_rss_mib']:.0f}"
            L.append(f"  {svc:<20}{idle:>8}{_f(mm['end_rss_mib'], 0):>8}{_f(mm['peak_hwm_mib'], 0):>8}")
        if st:
            L.append("  per-stage processes at completion (RSS / HWM): " + ", ".join(
                f"{n} {row['stage']['memory']['rss_mib']:.0f}/{row['stage']['memory']['hwm_mib']:.0f}, null {row['null']['memory']['rss_mib']:.0f}"
                for n, row in st.items()))
    for phase, err in (r.get("errors") or {}).items():
        L.append(f"PHASE {phase} FAILED: {err}")
    return "\n".join(L)


def _f(v, nd: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{nd}f}"


def git_head(repo: Path) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() or None


def baseline_refdata(args) -> Path:
    """The full-size reference data in the baseline's own loader layout, written by the
    baseline's own bench helper (its var/bench/refdata, generated once)."""
    base = args.baseline_repo
    code = ("import sys; sys.path.insert(0, 'bench'); from common import ensure_refdata, REFDATA_DIR; "
            f"print(ensure_refdata({args.pairs}, {args.mue}, REFDATA_DIR, quiet=True))")
    proc = subprocess.run([str(base / ".venv" / "bin" / "python"), "-c", code], cwd=base, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline reference data failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def headline_ratios(r: dict) -> dict:
    sat = lambda k: ((r.get(k) or {}).get("saturation") or {}).get("eps")  # noqa: E731
    return {"e2e_over_null": ratio(sat("e2e"), sat("e2e_null")), "e2e_over_baseline": ratio(sat("e2e"), sat("e2e_baseline")),
            "baseline_over_null": ratio(sat("e2e_baseline"), sat("e2e_null")),
            "stage_over_null": {k: v.get("ratio") for k, v in (r.get("stages") or {}).items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description="claimflow pipeline benchmark on the real local broker")
    ap.add_argument("--n", type=int, default=20_000, help="encounters for the saturation run (default 20000)")
    ap.add_argument("--m", type=int, default=5_000, help="encounters behind each per-stage input (default 5000)")
    ap.add_argument("--rate", type=float, help="fixed offered load for the latency run (enc/s); default: --latency-fraction of saturation")
    ap.add_argument("--latency-fractions", type=lambda v: [float(x) for x in v.split(",") if x.strip()], default=[0.2, 0.5],
                    help="offered loads of the latency runs as fractions of the measured saturation (default 0.2,0.5)")
    ap.add_argument("--latency-seconds", type=float, default=30.0)
    ap.add_argument("--null-latency", action="store_true", help="also run the latency loads through the null pipeline")
    ap.add_argument("--phases", default="logic,stages,null,e2e,adjmem",
                    help="comma list of logic, stages, null (null pipeline end to end), e2e, adjmem (adjudicator memory); "
                         "baseline is added by --baseline-repo (default all)")
    ap.add_argument("--baseline-repo", type=Path,
                    help="a checkout of the baseline code with its own .venv (e.g. git worktree add /tmp/r1bench 26a3e20): "
                         "the same end-to-end load runs against it on the same broker, and the ratio is printed")
    ap.add_argument("--adj-claims", type=int, default=100_000, help="claims the adjudicator memory phase feeds (default 100000)")
    ap.add_argument("--adj-warmup-fraction", type=float, default=0.2,
                    help="share of --adj-claims treated as warm-up: growth is measured from there to the end (default 0.2)")
    ap.add_argument("--adj-table-store", default="", help="Faust table store of the memory phase (default: the product's)")
    ap.add_argument("--kafka-port", type=int, default=23092, help="broker port (controller = port + 1)")
    ap.add_argument("--port-base", type=int, default=23100, help="first service HTTP port")
    ap.add_argument("--broker-heap", default="1g")
    ap.add_argument("--refdata", type=Path, default=REFDATA_DIR)
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--mue", type=int, default=15_000)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--stage-timeout", type=float, default=900.0)
    ap.add_argument("--e2e-timeout", type=float, default=1800.0)
    ap.add_argument("--label", default="", help="free text stored in the report (e.g. 'before', 'after linger change')")
    ap.add_argument("--keep", action="store_true", help="keep var/bench/run-<ts> (broker data, logs) afterwards")
    args = ap.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if args.baseline_repo:
        args.baseline_repo = args.baseline_repo.resolve()
        if not (args.baseline_repo / ".venv" / "bin" / "python").exists():
            ap.error(f"--baseline-repo {args.baseline_repo}: no .venv/bin/python there (python3 -m venv .venv && .venv/bin/pip install -e '.[test]')")
        phases.add("baseline")

    ensure_refdata(args.pairs, args.mue, args.refdata)
    bench = Bench(args)
    from claimflow.kafka_local import fetch_jars

    report: dict = {"meta": {
        "started_at": bench.stamp, "cpu_count": os.cpu_count(), "kafka_version": bench.base.kafka_version,
        "python": platform.python_version(), "platform": platform.platform(), "n": args.n, "m": args.m,
        "ptp_pairs": args.pairs, "mue_codes": args.mue, "label": args.label, "phases": sorted(phases),
        "baseline_repo": str(args.baseline_repo) if args.baseline_repo else None,
        "baseline_commit": git_head(args.baseline_repo) if args.baseline_repo else None, "commit": git_head(REPO),
        "latency_measure": "publisher wall clock at send -> bench consumer wall clock at receive (headline); "
                           "also -> outcome record CreateTime (stamped by the emitting service's producer)",
        "stage_rate": "input records / (last - first output record CreateTime); done when committed offsets reach the end",
        "load_average_start": os.getloadavg(),
    }}
    inputs_path = bench.root / "inputs.pkl"
    t_all = time.monotonic()
    try:
        if "baseline" in phases:
            bench.baseline_refdata = baseline_refdata(args)
        if phases & {"logic", "stages", "adjmem"}:
            report["logic"] = bench.logic(inputs_path)
            report["meta"]["ptp_pairs"] = report["logic"]["ptp_pairs"]
            report["meta"]["mue_codes"] = report["logic"]["mue_codes"]
        if phases & {"stages", "e2e", "null", "baseline", "adjmem"}:
            fetch_jars(bench.base)
            log(f"starting Kafka {bench.base.kafka_version} on {bench.broker.bootstrap} ...")
            bench.broker.start()
        if "stages" in phases:
            records = load_records(inputs_path)
            report["stages"] = {}
            for name in ("coder", "scrubber", "adjudicator"):
                report["stages"][name] = bench.stage(name, records[name])
        for phase, key, run in (("null", "e2e_null", lambda: bench.e2e("null")), ("e2e", "e2e", lambda: bench.e2e("real")),
                                ("baseline", "e2e_baseline", lambda: bench.e2e("baseline")),
                                ("adjmem", "adjudicator_memory", lambda: bench.adjudicator_memory(load_records(inputs_path)["adjudicator"]))):
            if phase not in phases:
                continue
            try:
                report[key] = run()
            except Exception as exc:  # keep the other phases' figures; the error is in the report
                log(f"phase {phase} failed: {exc!r}")
                report.setdefault("errors", {})[phase] = repr(exc)
                bench.stop_all()
        report["ratios"] = headline_ratios(report)
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(bench.root, ignore_errors=True)
    report["meta"]["seconds"] = round(time.monotonic() - t_all, 1)
    report["meta"]["load_average_end"] = os.getloadavg()
    VAR_BENCH.mkdir(parents=True, exist_ok=True)
    out = VAR_BENCH / f"pipeline-{bench.stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str))  # first without the table, in case rendering fails
    text = render(report)
    report["table"] = text
    out.write_text(json.dumps(report, indent=2, default=str))
    shutil.copyfile(out, VAR_BENCH / "latest.json")
    print()
    print(text)
    print(f"\nwritten {out.relative_to(REPO)} and var/bench/latest.json ({report['meta']['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
