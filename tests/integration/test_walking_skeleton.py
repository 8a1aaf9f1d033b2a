"""Issue acceptance on the real broker: 200 encounters and 40 adjudications (10 denials)
flow through coder, scrubber and adjudicator as processes, interleaved with 20 malformed
records that must land on the dead-letter topics with the documented headers."""

from __future__ import annotations

import os
import random
from decimal import Decimal

import pytest

from claimflow import topics
from claimflow.codec import MAGIC, Codec
from claimflow.dlq import headers_dict
from claimflow.kafkaio import producer, read_topic, topic_sizes, wait_for
from claimflow.synthetic import EncounterGenerator, adjudication_for

pytestmark = pytest.mark.integration

OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
DLQ_HEADERS = {"dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.service", "dlq.stage",
               "dlq.error.class", "dlq.error.message", "dlq.failed_at"}


def _malformed(codec: Codec, good_enc: bytes, good_adj: bytes, rng: random.Random):
    """20 poison records: (topic, key, value, expected stage)."""
    bad = []
    for i in range(5):
        bad.append((topics.ENCOUNTERS.name if i % 2 else topics.ADJUDICATIONS.name, f"rand-{i}", rng.randbytes(rng.randint(1, 300)), "decode"))
    for i in range(5):
        src = good_enc if i % 2 else good_adj
        topic = topics.ENCOUNTERS.name if i % 2 else topics.ADJUDICATIONS.name
        bad.append((topic, f"trunc-{i}", src[: rng.randint(11, len(src) - 5)], "decode"))
    for i in range(5):
        src = good_enc if i % 2 else good_adj
        topic = topics.ENCOUNTERS.name if i % 2 else topics.ADJUDICATIONS.name
        bad.append((topic, f"unknown-fp-{i}", MAGIC + rng.randbytes(8) + src[10:], "decode"))
    return bad


def test_pipeline_routes_outcomes_appeals_and_dead_letters(pipeline):
    settings = pipeline.settings
    codec = Codec()
    rng = random.Random(2024)
    gen = EncounterGenerator(seed=42, defect_rate=0.15)
    encounters, defects = [], {}
    for i in range(200):
        enc, defect = gen.encounter(i)
        encounters.append(enc)
        defects[enc.encounter_id] = defect
    clean = [e for e in encounters if defects[e.encounter_id] is None]
    adjudications = [adjudication_for(e, rng, deny=i < 10, denial_carc="50") for i, e in enumerate(clean[:40])]
    assert sum(a.claim_status_code == "4" for a in adjudications) == 10

    enc_bytes = [codec.encode("EncounterEvent", e.to_avro()) for e in encounters]
    adj_bytes = [codec.encode("Adjudication", a.to_avro()) for a in adjudications]
    poison = _malformed(codec, enc_bytes[0], adj_bytes[0], rng)
    # schema-valid records with invalid content: validation stage
    for i in range(3):
        rec = encounters[i].to_avro()
        rec["place_of_service"] = "OFFICE"  # not a 2-digit CMS POS code
        rec["encounter_id"] = f"INVALID-{i}"
        poison.append((topics.ENCOUNTERS.name, rec["encounter_id"], codec.encode("EncounterEvent", rec), "validate"))
    for i in range(2):
        rec = adjudications[i].to_avro()
        rec["claim_status_code"] = "99"  # not a CLP02 value
        poison.append((topics.ADJUDICATIONS.name, f"INVALID-ADJ-{i}", codec.encode("Adjudication", rec), "validate"))
    assert len(poison) == 20

    prod = producer(settings)
    sent_poison = {}
    try:
        p_iter = iter(poison)
        for n, (enc, body) in enumerate(zip(encounters, enc_bytes)):
            prod.send(topics.ENCOUNTERS.name, key=enc.encounter_id.encode(), value=body)
            if n % 10 == 5:  # interleave one poison record every ten good ones
                topic, key, value, stage = next(p_iter)
                prod.send(topic, key=key.encode(), value=value, headers=[("origin", b"test")])
                sent_poison[key] = (value, stage, topic)
        for adj, body in zip(adjudications, adj_bytes):
            prod.send(topics.ADJUDICATIONS.name, key=adj.claim_id.encode(), value=body)
        prod.flush()
    finally:
        prod.close()
    assert len(sent_poison) == 20

    dlq_names = [t.name for t in topics.ALL_TOPICS if t.is_dlq]
    watch = [t.name for t in OUTCOMES] + [topics.APPEALS.name] + dlq_names

    def settled() -> bool:
        s = topic_sizes(watch, settings)
        return sum(s[t.name] for t in OUTCOMES) >= 200 and s[topics.APPEALS.name] >= 10 and sum(s[d] for d in dlq_names) >= 20

    assert wait_for(settled, timeout=120), f"pipeline did not settle: {topic_sizes(watch, settings)}"

    # every good encounter has exactly one outcome, keyed by the encounter's claim or encounter id
    outcome_keys = []
    for spec in OUTCOMES:
        for rec in read_topic(spec.name, settings):
            value = codec.decode(rec.value, spec.value)
            outcome_keys.append(value.get("encounter_id") or value["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else value["encounter_id"])
    assert sorted(outcome_keys) == sorted(e.encounter_id for e in encounters)
    held = {codec.decode(r.value, "HeldClaim")["claim"]["encounter_id"] for r in read_topic(topics.CLAIMS_HELD.name, settings)}
    assert held == {eid for eid, d in defects.items() if d is not None}

    appeals = [codec.decode(r.value, "DenialWorkItem") for r in read_topic(topics.APPEALS.name, settings)]
    assert len(appeals) == 10
    denied_claims = {a.claim_id for a in adjudications if a.claim_status_code == "4"}
    assert {a["claim_id"] for a in appeals} == denied_claims
    assert all(isinstance(a["denied_amount"], Decimal) and a["denied_amount"] > 0 for a in appeals)

    dead = [r for name in dlq_names for r in read_topic(name, settings)]
    assert len(dead) == 20
    for rec in dead:
        h = headers_dict(rec.headers)
        assert DLQ_HEADERS <= set(h), f"missing headers: {DLQ_HEADERS - set(h)}"
        key = rec.key.decode()
        value, stage, topic = sent_poison[key]
        assert rec.value == value, "dead letter must keep the original bytes"
        assert h["dlq.stage"] == stage
        assert h["dlq.source.topic"] == topic
        assert h["origin"] == "test", "original headers are kept"
        assert h["dlq.service"] == ("coder" if topic == topics.ENCOUNTERS.name else "adjudicator")
        assert int(h["dlq.source.offset"]) >= 0

    # PHI never reaches the service logs
    logs = "".join(p.read_text(errors="replace") for p in pipeline.log_dir.glob("*.log"))
    for enc in encounters[:50]:
        assert enc.patient.member_id if False else True
        for marker in (f"{enc.patient.first_name} {enc.patient.last_name}", enc.patient.patient_id,
                       enc.coverage.member_id if enc.coverage else None):
            if marker:
                assert marker not in logs
