"""Poison input on the real broker (issue #8 item 5).

Every service runs as its own process. Each input topic (the seven of the issue, plus any
other external input the services' agents consume, read off the real apps) gets 1,003 seeded
fuzzed values (random bytes, truncated / bit-flipped Avro, unknown fingerprints, records
of another contract, trailing garbage, schema-valid records with content the pydantic
models reject, values over CLAIMFLOW_MAX_MESSAGE_BYTES, tombstones), interleaved with 300
good encounters. Whether a fuzzed value must be dead-lettered is decided per value by
the same decode + validate a service runs (tests/reliability/fuzz.py ``verdict``):
bit-flipped Avro that still decodes to a valid record is legitimately processed.

Asserted: every bad value is on the dead-letter topic of every service consuming its
topic (claims.v1: adjudicator, payer-sim and payer-gateway), found by key, with its
original bytes, original headers and the dlq.* headers of the expected stage and error
class; no good record is dead-lettered; every good encounter has exactly one outcome and
every clean good claim is adjudicated by payer-sim, submitted by payer-gateway and
posted by the adjudicator; each service's dead-letter metric matches its topic; no
service process exits and /healthz answers throughout."""

from __future__ import annotations

import random
import re
import time
import urllib.request
from collections import Counter, defaultdict

import pytest

from claimflow import topics
from claimflow.codec import Codec, DecodeError
from claimflow.dlq import headers_dict
from claimflow.ids import claim_id as make_claim_id
from claimflow.kafkaio import producer, topic_sizes
from claimflow_app.services import SERVICES
from claimflow.synthetic import EncounterGenerator
from tests.harness import _pipeline
from tests.reliability.fuzz import Fuzzed, discover_consumers, fuzz_targets, fuzz_topic, read_topics, templates
from tests.reliability.report import FaultOutcome, record

pytestmark = pytest.mark.integration

SEED = 20240808
GOOD_ENCOUNTERS = 300
DLQ_HEADERS = {"dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.service", "dlq.stage",
               "dlq.error.class", "dlq.error.message", "dlq.failed_at"}
OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
DLQ_OF = {s: topics.DLQ_BY_SERVICE[s].name for s in SERVICES}
SETTLE_SECONDS = 420
POSTED = {"paid", "partially_paid", "denied"}  # claim states the adjudicator reaches by posting a remittance


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def _dead_letter_metric(text: str, service: str) -> int:
    total = 0.0
    for m in re.finditer(r'^claimflow_dead_letters_total\{([^}]*)\} ([0-9.e+]+)$', text, re.M):
        if f'service="{service}"' in m.group(1):
            total += float(m.group(2))
    return int(total)


def _crashes(procs) -> list[str]:
    """Agent crash lines in the service logs. A crashed Faust agent does not always end
    its worker: it can hang in "Wait for streams..." with /healthz still answering."""
    out = []
    for p in procs:
        text = p.log_path.read_text(errors="replace") if p.log_path.exists() else ""
        out += [f"{p.service}: {line[:300]}" for line in text.splitlines() if "Crashed reason=" in line]
    return out


def _decoded(records, contract: str, codec: Codec):
    for rec in records:
        if rec.value is None:
            continue
        try:
            yield rec, codec.decode(rec.value, contract)
        except DecodeError:
            continue


def test_poison_input_is_dead_lettered_and_good_input_flows(kafka_broker, tmp_path):
    started = time.monotonic()
    codec = Codec()
    rng = random.Random(SEED)
    templates()  # load the coder/scrubber reference once, before the services compete for the CPU

    gen = EncounterGenerator(seed=SEED, defect_rate=0.15)
    good = [gen.encounter(i)[0] for i in range(GOOD_ENCOUNTERS)]
    good_ids = {e.encounter_id for e in good}
    good_claim_ids = {make_claim_id(e.encounter_id, e.version) for e in good}

    consumers = discover_consumers(tmp_path / "discover")
    fuzz: dict[str, list[Fuzzed]] = {t: fuzz_topic(t, rng) for t in fuzz_targets(consumers)}
    assert all(len(v) >= 1000 for v in fuzz.values())
    by_key = {f.key: f for fs in fuzz.values() for f in fs}
    assert len(by_key) == sum(len(v) for v in fuzz.values()), "fuzz keys must be unique"

    messages = [(t, f.key, f.value, [("fuzz-kind", f.kind.encode())]) for t, fs in fuzz.items() for f in fs]
    good_messages = [(topics.ENCOUNTERS.name, e.encounter_id.encode(), codec.encode("EncounterEvent", e.to_avro()), [])
                     for e in good]
    messages += good_messages
    rng.shuffle(messages)

    pipe = _pipeline(kafka_broker, tmp_path, SERVICES)
    try:
        settings = pipe.settings
        ports = {p.service: settings.port_for(p.service) for p in pipe.procs}
        prod = producer(settings, max_request_size=11 * 1024 * 1024, linger_ms=20)
        try:
            futures = [prod.send(t, key=k, value=v, headers=h) for t, k, v, h in messages]
            prod.flush()
            for f in futures:
                f.get(timeout=60)
        finally:
            prod.close()
        published_at = time.monotonic()

        expected_dlq = Counter()
        for t, fs in fuzz.items():
            bad = sum(1 for f in fs if f.stage is not None)
            for s in consumers[t]:
                expected_dlq[s] += bad

        dlq_names = sorted(DLQ_OF.values())
        watch = [t.name for t in (*OUTCOMES, topics.ADJUDICATIONS, topics.CLAIMS_STATUS)]
        state: dict = {}

        def settled() -> bool:
            sizes = topic_sizes(dlq_names + [t.name for t in OUTCOMES], settings)
            if any(sizes[DLQ_OF[s]] < n for s, n in expected_dlq.items()):
                return False
            if sum(sizes[t.name] for t in OUTCOMES) < GOOD_ENCOUNTERS:
                return False
            data = read_topics(dlq_names + watch, settings)
            state["data"] = data
            return not _missing(data, fuzz, consumers, good_ids, codec)

        deadline = time.monotonic() + SETTLE_SECONDS
        while not settled():
            for p in pipe.procs:
                assert p.proc.poll() is None, f"{p.service} exited with {p.proc.returncode}; see {p.log_path}"
            assert not _crashes(pipe.procs), _crashes(pipe.procs)
            if time.monotonic() > deadline:
                break
            time.sleep(3)
        data = state.get("data") or read_topics(dlq_names + watch, settings)
        settle_seconds = time.monotonic() - published_at

        # --- every process alive and answering; metrics agree with the dead-letter topics
        metrics_text = {}
        assert not _crashes(pipe.procs), _crashes(pipe.procs)
        for p in pipe.procs:
            assert p.proc.poll() is None, f"{p.service} exited with {p.proc.returncode}; see {p.log_path}"
            status, _ = _get(f"http://127.0.0.1:{ports[p.service]}/healthz")
            assert status == 200
            status, body = _get(f"http://127.0.0.1:{ports[p.service]}/metrics")
            assert status == 200
            metrics_text[p.service] = body.decode()

        missing = _missing(data, fuzz, consumers, good_ids, codec)
        assert not missing, f"not settled after {settle_seconds:.0f}s: " + "; ".join(f"{k}: {v}" for k, v in missing.items())

        # --- dead letters: right topic, original bytes and headers, expected stage and class
        dlq_by_key: dict[tuple[str, bytes], list] = defaultdict(list)
        for s, name in DLQ_OF.items():
            for rec in data[name]:
                dlq_by_key[(s, rec.key)].append(rec)
        duplicates = Counter()
        legit_rules = Counter()
        per_topic_dlq = Counter()
        for t, fs in fuzz.items():
            for f in fs:
                for s in consumers[t]:
                    found = [r for r in dlq_by_key.get((s, f.key), []) if headers_dict(r.headers).get("dlq.source.topic") == t]
                    if f.stage is None:
                        stages = {headers_dict(r.headers)["dlq.stage"] for r in found}
                        assert not stages & {"decode", "validate"}, f"{f.key!r} is a valid record but {s} dead-lettered it at {stages}"
                        legit_rules[(t, s)] += len(found)
                        continue
                    assert found, f"{s} did not dead-letter {f.key!r} ({f.kind}, expected {f.stage}/{f.error_class})"
                    per_topic_dlq[t] += len(found)
                    if len(found) > 1:
                        duplicates[(t, s)] += len(found) - 1
                    for r in found:
                        h = headers_dict(r.headers)
                        assert DLQ_HEADERS <= set(h), f"{f.key!r} on {s}: missing {DLQ_HEADERS - set(h)}"
                        assert r.value == f.value, f"{f.key!r} on {s}: dead letter must carry the original bytes"
                        assert h["dlq.service"] == s
                        assert h["dlq.stage"] == f.stage, f"{f.key!r} ({f.kind}) on {s}: stage {h['dlq.stage']} != {f.stage}"
                        assert h["dlq.error.class"] == f.error_class, f"{f.key!r} ({f.kind}) on {s}: {h['dlq.error.class']} != {f.error_class}"
                        assert h["dlq.error.message"].strip()
                        assert int(h["dlq.source.offset"]) >= 0 and int(h["dlq.source.partition"]) >= 0
                        assert h.get("fuzz-kind") == f.kind, "original headers are kept"

        # no good record (or anything keyed by a good encounter / claim id) is dead-lettered
        good_keys = {k.encode() for k in good_ids | good_claim_ids}
        for s, name in DLQ_OF.items():
            bad_good = [r for r in data[name] if r.key in good_keys]
            assert not bad_good, f"{s} dead-lettered good records: {[(r.key, headers_dict(r.headers).get('dlq.error.class')) for r in bad_good][:5]}"
        derived = {s: sum(1 for r in data[name] if not (r.key or b"").startswith(b"fz:")) for s, name in DLQ_OF.items()}

        # --- good traffic: one outcome per encounter; clean claims flow through every claims.v1 consumer
        outcome_of: dict[str, list[str]] = defaultdict(list)
        clean_claims = set()
        for _, v in _decoded(data[topics.CLAIMS.name], "Claim", codec):
            if v["encounter_id"] in good_ids:
                outcome_of[v["encounter_id"]].append("claim")
                clean_claims.add(v["claim_id"])
        for _, v in _decoded(data[topics.CLAIMS_HELD.name], "HeldClaim", codec):
            if v["claim"]["encounter_id"] in good_ids:
                outcome_of[v["claim"]["encounter_id"]].append("held")
        for _, v in _decoded(data[topics.CODING_REVIEW.name], "CodingReviewItem", codec):
            if v["encounter_id"] in good_ids:
                outcome_of[v["encounter_id"]].append("review")
        lost = sorted(good_ids - set(outcome_of))
        multi = {k: v for k, v in outcome_of.items() if len(v) != 1}
        assert not lost, f"{len(lost)} good encounters without an outcome: {lost[:5]}"
        assert not multi, f"good encounters with more than one outcome: {list(multi.items())[:5]}"
        assert len(clean_claims) > GOOD_ENCOUNTERS // 2

        sim_adjudicated = {v["claim_id"] for _, v in _decoded(data[topics.ADJUDICATIONS.name], "Adjudication", codec) if v["source"] == "payer-sim"}
        submitted = defaultdict(set)
        tracked = set()
        for _, v in _decoded(data[topics.CLAIMS_STATUS.name], "ClaimStatusChanged", codec):
            if v["source_service"] == "payer-gateway" and v["state"] == "submitted":
                submitted[v["claim_id"]].add(v["trigger_id"])
            if v["source_service"] == "adjudicator" and v["state"] in POSTED:
                tracked.add(v["claim_id"])
        assert clean_claims <= sim_adjudicated, f"payer-sim missed {sorted(clean_claims - sim_adjudicated)[:5]}"
        assert clean_claims <= set(submitted), f"payer-gateway did not submit {sorted(clean_claims - set(submitted))[:5]}"
        assert clean_claims <= tracked, f"adjudicator did not post the remittance of {sorted(clean_claims - tracked)[:5]}"
        double_submitted = sorted(c for c in clean_claims if len(submitted[c]) > 1)
        assert not double_submitted, f"claims submitted in two 837P transactions: {double_submitted[:5]}"

        for s, name in DLQ_OF.items():
            assert _dead_letter_metric(metrics_text[s], s) == len(data[name]), \
                f"{s}: claimflow_dead_letters_total {_dead_letter_metric(metrics_text[s], s)} != {len(data[name])} records on {name}"

        # --- the fault table: one row per input topic
        for t, fs in fuzz.items():
            kinds = Counter(f.kind.split(":")[0] for f in fs)
            record(FaultOutcome(
                fault=f"poison input: {len(fs)} fuzzed values on {t}",
                events_in=GOOD_ENCOUNTERS, outcomes_out=len(outcome_of), lost=len(lost),
                duplicated_submissions=len(double_submitted), dlq=per_topic_dlq[t], recovery_seconds=None,
                detail={
                    "seed": SEED, "consumers": list(consumers[t]), "fuzzed": len(fs), "kinds": dict(kinds),
                    "expected_dead_letters_per_consumer": sum(1 for f in fs if f.stage is not None),
                    "by_stage": dict(Counter(f.stage or "valid" for f in fs)),
                    "valid_after_mutation": sum(1 for f in fs if f.stage is None),
                    "valid_but_rules_dead_lettered": {s: legit_rules[(t, s)] for s in consumers[t]},
                    "duplicate_dead_letters": {s: duplicates[(t, s)] for s in consumers[t]},
                    "dlq_topic_totals": {s: len(data[DLQ_OF[s]]) for s in consumers[t]},
                    "derived_dead_letters": {s: derived[s] for s in consumers[t]},
                    "settle_seconds": round(settle_seconds, 1), "test_seconds": round(time.monotonic() - started, 1),
                },
            ))
    finally:
        codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"


def _missing(data, fuzz: dict[str, list[Fuzzed]], consumers: dict[str, tuple[str, ...]], good_ids: set[str], codec: Codec) -> dict[str, int]:
    """What has not arrived yet: bad values per service DLQ, good encounters without outcome."""
    seen = defaultdict(set)
    for s, name in DLQ_OF.items():
        for rec in data[name]:
            seen[s].add((rec.key, headers_dict(rec.headers).get("dlq.source.topic")))
    out: dict[str, int] = {}
    for t, fs in fuzz.items():
        for s in consumers[t]:
            n = sum(1 for f in fs if f.stage is not None and (f.key, t) not in seen[s])
            if n:
                out[f"{s} <- {t}"] = n
    with_outcome = set()
    for _, v in _decoded(data[topics.CLAIMS.name], "Claim", codec):
        with_outcome.add(v["encounter_id"])
    for _, v in _decoded(data[topics.CLAIMS_HELD.name], "HeldClaim", codec):
        with_outcome.add(v["claim"]["encounter_id"])
    for _, v in _decoded(data[topics.CODING_REVIEW.name], "CodingReviewItem", codec):
        with_outcome.add(v["encounter_id"])
    if good_ids - with_outcome:
        out["good encounters without outcome"] = len(good_ids - with_outcome)
    clean = {v["claim_id"] for _, v in _decoded(data[topics.CLAIMS.name], "Claim", codec) if v["encounter_id"] in good_ids}
    adjudicated = {v["claim_id"] for _, v in _decoded(data[topics.ADJUDICATIONS.name], "Adjudication", codec)}
    statuses = {(v["claim_id"], v["source_service"]) for _, v in _decoded(data[topics.CLAIMS_STATUS.name], "ClaimStatusChanged", codec)
                if v["source_service"] != "adjudicator" or v["state"] in POSTED}
    for what, n in (("payer-sim", len(clean - adjudicated)),
                    ("payer-gateway", sum(1 for c in clean if (c, "payer-gateway") not in statuses)),
                    ("adjudicator", sum(1 for c in clean if (c, "adjudicator") not in statuses))):
        if n:
            out[f"good claims not seen by {what}"] = n
    return out


def test_value_over_dead_letter_limit(kafka_broker, tmp_path):
    """A 2.5x-limit value on encounters.v1 must be dead-lettered (stage decode,
    OversizedValue) without the coder exiting, and good encounters after it still flow."""
    codec = Codec()
    pipe = _pipeline(kafka_broker, tmp_path, ("coder",))
    try:
        settings = pipe.settings
        limit = settings.max_message_bytes
        tpl = templates()["EncounterEvent"][0]
        from tests.reliability.fuzz import oversized_record

        big = oversized_record("EncounterEvent", tpl, int(limit * 2.5))
        assert len(big) > 2 * limit
        gen = EncounterGenerator(seed=SEED + 1)
        after = [gen.encounter(i)[0] for i in range(20)]
        prod = producer(settings, max_request_size=11 * 1024 * 1024)
        try:
            prod.send(topics.ENCOUNTERS.name, key=b"fz:too-big", value=big).get(timeout=60)
            for e in after:
                prod.send(topics.ENCOUNTERS.name, key=e.encounter_id.encode(), value=codec.encode("EncounterEvent", e.to_avro()))
            prod.flush()
        finally:
            prod.close()
        coder = pipe.procs[0]
        watch = [topics.DLQ_CODER.name, topics.ENCOUNTERS_CODED.name, topics.CODING_REVIEW.name]

        def done() -> bool:
            if coder.proc.poll() is not None or _crashes([coder]):
                return True
            s = topic_sizes(watch, settings)
            return s[topics.DLQ_CODER.name] >= 1 and s[topics.ENCOUNTERS_CODED.name] + s[topics.CODING_REVIEW.name] >= len(after)

        deadline = time.monotonic() + 180
        while not done() and time.monotonic() < deadline:
            time.sleep(1)
        assert coder.proc.poll() is None, f"coder exited with {coder.proc.returncode}; see {coder.log_path}"
        assert not _crashes([coder]), _crashes([coder])
        data = read_topics(watch, settings)
        dead = [r for r in data[topics.DLQ_CODER.name] if r.key == b"fz:too-big"]
        assert dead, "the oversized value is not on dlq.coder.v1"
        h = headers_dict(dead[0].headers)
        assert (h["dlq.stage"], h["dlq.error.class"]) == ("decode", "OversizedValue")
        # too big to carry: the dead letter proves what it was instead of holding the body
        import hashlib
        assert dead[0].value is None and h["dlq.value.omitted"] == "true"
        assert int(h["dlq.value.bytes"]) == len(big) and h["dlq.value.sha256"] == hashlib.sha256(big).hexdigest()
        outcomes = {v["encounter_id"] for _, v in _decoded(data[topics.ENCOUNTERS_CODED.name], "CodedEncounter", codec)}
        outcomes |= {v["encounter_id"] for _, v in _decoded(data[topics.CODING_REVIEW.name], "CodingReviewItem", codec)}
        assert {e.encounter_id for e in after} <= outcomes
        status, _ = _get(f"http://127.0.0.1:{settings.port_for('coder')}/healthz")
        assert status == 200
    finally:
        pipe.stop()
