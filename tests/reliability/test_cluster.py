"""Broker failure on a replicated cluster (issue #8, item 4).

Three local KRaft nodes (each broker + controller, one controller quorum of three, one
cluster id), every topic with replication factor 3 and min.insync.replicas=2. Coder,
scrubber and adjudicator run as processes against the cluster. 2,000 encounters are
published at a steady pace (about 40/s) by an idempotent acks=all producer that records
exactly which sends the cluster acknowledged; one broker (the leader of encounters.v1[0])
is SIGKILLed once a third were sent and outcomes are flowing, and publishing goes on. Then:

- every acknowledged encounter has exactly one outcome (claims.v1, claims.held.v1 or
  coding.review.v1), and nothing comes out for an encounter that was never sent;
- no claim id is on claims.v1 twice;
- every encounters.v1 partition yields outcomes again for encounters sent after the kill;
- recovery time: kill -> outcomes flowing again, i.e. the end of the longest silence in
  outcome production (record CreateTime) that began after the kill. Backlog does not count,
  only silence; the outcome rate per 5 s around the kill goes to the report's detail;
- the killed broker, restarted, rejoins the ISR of every pipeline partition.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from claimflow import topics
from claimflow.admin import admin_client, create_topics
from claimflow.codec import Codec
from claimflow.kafka_local import LocalCluster
from claimflow.kafkaio import producer, read_topic, topic_sizes, wait_for
from claimflow.settings import Settings
from claimflow.synthetic import EncounterGenerator
from tests.harness import Pipeline
from tests.reliability.report import FaultOutcome, record

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

CORE = ("coder", "scrubber", "adjudicator")
OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
PIPELINE_TOPICS = (topics.ENCOUNTERS, topics.ENCOUNTERS_CODED, topics.ENCOUNTERS_CODED_BY_DAY) + OUTCOMES
N = int(os.environ.get("CLAIMFLOW_CLUSTER_ENCOUNTERS", "2000"))
KILL_AFTER = N // 3         # kill once this many were sent and outcomes are flowing...
KILL_FLOWING = 100          # ...i.e. this many outcomes were produced,
KILL_LATEST = 2 * N // 3    # but no later than this many sends
BATCH = 10          # encounters per tick
TICK = 0.25         # seconds between ticks: about 40 encounters/s
BROKER_PORTS = [21092, 21093, 21094]  # below the ephemeral range (32768+), where client sockets could take them
CONTROLLER_PORTS = [21095, 21096, 21097]
PORT_BASE = int(os.environ.get("CLAIMFLOW_CLUSTER_PORT_BASE", "21100"))


def encounter_id_of(spec, value: dict) -> str:
    return value["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else value["encounter_id"]


class OutcomeWatcher(threading.Thread):
    """Tails the outcome topics from the beginning and notes when each encounter's first
    outcome was produced (record CreateTime, wall clock), for the recovery measurement.
    The final check re-reads the topics independently."""

    def __init__(self, settings: Settings):
        super().__init__(name="outcome-watcher", daemon=True)
        self.settings = settings
        self.first_seen: dict[str, float] = {}
        self.arrivals: list[float] = []   # arrival time of every outcome record
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        codec = Codec()
        by_name = {s.name: s for s in OUTCOMES}
        consumer = KafkaConsumer(enable_auto_commit=False, client_id="cluster-test-watcher", **self.settings.kafka_python_config())
        try:
            tps = [TopicPartition(s.name, p) for s in OUTCOMES for p in sorted(consumer.partitions_for_topic(s.name) or [])]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self.stop_event.is_set():
                for tp, msgs in consumer.poll(timeout_ms=300).items():
                    spec = by_name[tp.topic]
                    for m in msgs:
                        eid = encounter_id_of(spec, codec.decode(m.value, spec.value))
                        now = m.timestamp / 1000.0  # produced by the service (CreateTime): not delayed by this reader
                        self.first_seen.setdefault(eid, now)
                        self.arrivals.append(now)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            consumer.close()


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _recovery(arrivals: list[float], t_kill: float, window: float = 90.0) -> tuple[float | None, float | None]:
    """(recovery, stall): the longest pause in outcome arrivals that began within ``window``
    seconds of the kill (the kill itself counts as the first arrival), and the time from the
    kill to the outcome that ended it. Backlog does not inflate it: only silence counts."""
    after = sorted(a for a in arrivals if a >= t_kill)
    if not after:
        return None, None
    best_gap, best_end, prev = -1.0, None, t_kill
    for a in after:
        if prev - t_kill <= window and a - prev > best_gap:
            best_gap, best_end = a - prev, a
        prev = a
    return round(best_end - t_kill, 2), round(best_gap, 2)


def _timeline(arrivals: list[float], t_kill: float, step: float = 5.0, before: float = 10.0) -> list[int]:
    """Outcomes seen per ``step`` seconds, from ``before`` seconds before the kill to the last one."""
    start = t_kill - before
    rel = [a - start for a in arrivals if a >= start]
    if not rel:
        return []
    buckets = [0] * (int(max(rel) // step) + 1)
    for r in rel:
        buckets[int(r // step)] += 1
    return buckets


def _describe(settings: Settings, names: list[str]) -> dict[str, list[dict]]:
    admin = admin_client(settings)
    try:
        return {d["name"]: d["partitions"] for d in admin.describe_topics(names)}
    finally:
        admin.close()


def _controller_id(settings: Settings) -> int | None:
    admin = admin_client(settings)
    try:
        return admin.describe_cluster().get("controller_id")
    finally:
        admin.close()


def _topic_min_isr(settings: Settings, names: list[str]) -> dict[str, str]:
    admin = admin_client(settings)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])["topic"]
        return {n: described[n]["min.insync.replicas"]["value"] for n in names}
    finally:
        admin.close()


@pytest.fixture
def cluster():
    root = Path(tempfile.mkdtemp(prefix="claimflow-cluster-"))
    c = LocalCluster(root=root / "kafka", ports=BROKER_PORTS, controller_ports=CONTROLLER_PORTS, heap="384m",
                     settings=Settings(kafka_bootstrap=",".join(f"127.0.0.1:{p}" for p in BROKER_PORTS)))
    try:
        c.start(wait=240)
        yield c, root
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_acknowledged_encounters_survive_a_broker_sigkill(cluster):
    cl, root = cluster
    pipe = Pipeline(cl, root / "pipeline", services=CORE, port_base=PORT_BASE)
    pipe.settings = pipe.settings.model_copy(update={"topic_replication_factor": 3})
    pipe.env["CLAIMFLOW_TOPIC_REPLICATION_FACTOR"] = "3"
    settings = pipe.settings
    codec = Codec()

    report = create_topics(settings)
    assert report.created and not report.mismatched
    again = create_topics(settings)  # idempotent: everything exists, partition counts match
    assert not again.created and not again.mismatched and len(again.existing) == len(report.created)
    layout = _describe(settings, [t.name for t in PIPELINE_TOPICS])
    for name, parts in layout.items():
        assert parts, f"{name} has no partitions"
        assert all(len(p["replica_nodes"]) == 3 for p in parts), f"{name} is not replicated on 3 brokers"
    assert set(_topic_min_isr(settings, [t.name for t in PIPELINE_TOPICS]).values()) == {"2"}

    gen = EncounterGenerator(seed=4242, defect_rate=0.1)
    encounters = [gen.encounter(i)[0] for i in range(N)]
    bodies = [codec.encode(topics.ENCOUNTERS.value, e.to_avro()) for e in encounters]
    sent_ids = {e.encounter_id for e in encounters}
    assert len(sent_ids) == N

    watcher = OutcomeWatcher(settings)
    acked: dict[str, tuple[int, float]] = {}      # encounter id -> (partition, ack time)
    failed: dict[str, str] = {}                   # encounter id -> error class
    sent_at: dict[str, float] = {}
    prod = None
    try:
        pipe.start()
        watcher.start()
        layout = _describe(settings, [t.name for t in PIPELINE_TOPICS] + ["__consumer_offsets"])  # after the groups formed
        assert all(len(p["replica_nodes"]) == 3 for p in layout["__consumer_offsets"]) and layout["__consumer_offsets"]
        victim_id = next(p["leader_id"] for p in layout[topics.ENCOUNTERS.name] if p["partition_index"] == 0)
        controller_before = _controller_id(settings)
        led_by_victim = sum(p["leader_id"] == victim_id for parts in layout.values() for p in parts)
        victim = cl.node_by_id(victim_id)

        prod = producer(settings, client_id="cluster-test-publisher", linger_ms=5)
        t_kill = None
        for start in range(0, N, BATCH):
            flowing = len(watcher.arrivals) >= KILL_FLOWING
            if t_kill is None and ((start >= KILL_AFTER and flowing) or start >= KILL_LATEST):
                killed_after, outcomes_before_kill = start, len(watcher.arrivals)
                victim.kill()
                t_kill = time.time()
                assert victim.pid() is None, "the broker survived SIGKILL"
            for enc, body in zip(encounters[start:start + BATCH], bodies[start:start + BATCH]):
                eid = enc.encounter_id
                sent_at[eid] = time.time()
                fut = prod.send(topics.ENCOUNTERS.name, key=eid.encode(), value=body)
                fut.add_callback(lambda md, eid=eid: acked.__setitem__(eid, (md.partition, time.time())))
                fut.add_errback(lambda exc, eid=eid: failed.__setitem__(eid, type(exc).__name__))
            time.sleep(TICK)
        prod.flush(timeout=300)
        assert t_kill is not None
        assert len(acked) + len(failed) == N, "every send must be settled (acknowledged or failed)"
        assert len(acked) >= N // 2, f"the cluster acknowledged only {len(acked)} of {N} sends"

        all_out = wait_for(lambda: set(acked) <= set(watcher.first_seen) or watcher.error is not None, timeout=600, interval=1.0)
        assert watcher.error is None, f"outcome watcher failed: {watcher.error!r}"
        recovery, stall = _recovery(watcher.arrivals, t_kill)
        # per encounters.v1 partition: the first outcome of an encounter sent after the kill
        # (includes the time spent queued behind the backlog; a detail, not the recovery)
        after_kill = {eid for eid, t in sent_at.items() if t >= t_kill and eid in acked}
        per_partition: dict[int, float] = {}
        for eid in after_kill:
            seen = watcher.first_seen.get(eid)
            if seen is not None:
                part = acked[eid][0]
                per_partition[part] = min(per_partition.get(part, float("inf")), seen - t_kill)
        n_parts = len(layout[topics.ENCOUNTERS.name])
        max_latency = max((watcher.first_seen[e] - sent_at[e] for e in after_kill if e in watcher.first_seen), default=None)
        max_ack_after_kill = max((acked[e][1] - sent_at[e] for e in after_kill), default=None)
        timeline = _timeline(watcher.arrivals, t_kill)
        services_alive = {p.service: p.proc.poll() is None for p in pipe.procs}

        # the downstream truth, read independently of the watcher
        counts: Counter[str] = Counter()
        claim_ids: Counter[str] = Counter()
        for spec in OUTCOMES:
            for rec in read_topic(spec.name, settings, timeout=120):
                value = codec.decode(rec.value, spec.value)
                counts[encounter_id_of(spec, value)] += 1
                if spec is topics.CLAIMS:
                    claim_ids[value["claim_id"]] += 1
        lost = sorted(e for e in acked if counts[e] == 0)
        doubled = sorted(e for e in acked if counts[e] > 1)
        unknown = sorted(set(counts) - sent_ids)
        dup_claims = sorted(c for c, n in claim_ids.items() if n > 1)
        dlq = sum(topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], settings).values())

        # the killed broker comes back and catches up
        t_restart = time.monotonic()
        victim.start(wait=240)
        watched = [t.name for t in PIPELINE_TOPICS] + ["__consumer_offsets"]

        def rejoined() -> bool:
            try:
                return all(victim_id in p["isr_nodes"] for parts in _describe(settings, watched).values() for p in parts)
            except Exception:
                return False

        back_in_isr = wait_for(rejoined, timeout=300, interval=1.0)
        rejoin_seconds = time.monotonic() - t_restart

        record(FaultOutcome(
            fault="SIGKILL 1 of 3 brokers mid-stream (RF 3, min ISR 2, acks=all)",
            events_in=len(acked),
            outcomes_out=sum(1 for e in acked if counts[e] > 0),
            lost=len(lost),
            duplicated_submissions=len(dup_claims),
            dlq=dlq,
            recovery_seconds=round(recovery, 2) if recovery is not None else None,
            detail={"published": N, "acknowledged": len(acked), "failed_sends": Counter(failed.values()),
                    "killed_after_sends": killed_after, "outcomes_before_kill": outcomes_before_kill, "killed_node": victim_id, "killed_node_was_controller": victim_id == controller_before,
                    "partitions_led_by_killed_node": led_by_victim, "stall_seconds": stall,
                    "first_outcome_of_post_kill_encounter_by_partition_s": {p: round(v, 1) for p, v in sorted(per_partition.items())},
                    "max_send_to_ack_after_kill_s": _r(max_ack_after_kill), "max_send_to_outcome_after_kill_s": _r(max_latency),
                    "outcomes_per_5s_from_kill_minus_10s": timeline, "encounters_with_two_outcomes": len(doubled),
                    "outcomes_for_unsent_encounters": len(unknown), "services_alive": services_alive,
                    "rejoined_isr": back_in_isr, "rejoin_seconds": round(rejoin_seconds, 1), "all_outcomes_seen": all_out},
        ))

        assert all(services_alive.values()), f"a service died when a broker was killed: {services_alive}"
        assert not lost, f"{len(lost)} acknowledged encounters have no outcome"
        assert not doubled, f"{len(doubled)} acknowledged encounters have more than one outcome"
        assert not unknown, f"{len(unknown)} outcomes for encounters that were never sent"
        assert not dup_claims, f"{len(dup_claims)} claim ids were emitted twice on claims.v1"
        assert dlq == 0
        assert recovery is not None, "no outcome arrived after the kill"
        assert len(per_partition) == n_parts, f"some encounters.v1 partitions never produced outcomes after the kill: {sorted(per_partition)}"
        assert back_in_isr, "the restarted broker did not rejoin the ISR of every pipeline partition"
    finally:
        watcher.stop_event.set()
        if prod is not None:
            prod.close(timeout=10)
        pipe.stop()
        if watcher.is_alive():
            watcher.join(15)
