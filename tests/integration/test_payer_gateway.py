"""Payer gateway as a process on the real broker: claims.v1 -> 837P files (each claim id
once, even when delivered twice) + one 'submitted' status per claim, poison and claims the
writer rejects on dlq.payer-gateway.v1; then an 835 dropped into the inbox becomes
adjudications.v1 records and a broken file lands in inbox/failed/ plus the DLQ."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.dlq import headers_dict
from claimflow.kafkaio import producer, read_topic, topic_sizes, wait_for
from claimflow.models import SubscriberRelationship
from tests.harness import Pipeline, _reset_topics
from tests.unit.payer_gateway.claims_factory import varied_claims

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gateway(kafka_broker, tmp_path):
    pipe = Pipeline(kafka_broker, tmp_path, services=("payer-gateway",))
    _reset_topics(pipe.settings)
    try:
        pipe.start()
        yield pipe
    finally:
        codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"payer-gateway did not exit cleanly: {codes}"


def _remittance_835(claims, control: int) -> bytes:
    """A balanced synthetic 835 paying every claim in full (no real PHI)."""
    body = ["BPR*I*{total}*C*CHK************20261120", f"TRN*1*CHK{control}*1234567890", "DTM*405*20261119",
            "N1*PR*EXAMPLE PAYER A", "REF*2U*BCX22", "N1*PE*MAPLE STREET FAMILY PRACTICE*XX*1234567893", "LX*1"]
    total = Decimal("0.00")
    for i, c in enumerate(claims):
        body.append(f"CLP*{c.claim_id}*1*{c.total_charge}*{c.total_charge}*0*12*PCN{control}{i:03d}")
        for line in c.lines:
            body.append(f"SVC*HC:{line.procedure_code}*{line.charge}*{line.charge}**{line.units}")
            body.append(f"REF*6R*{c.claim_id}L{line.line_number}")
        total += c.total_charge
    body[0] = body[0].format(total=total)
    segs = [f"ST*835*0001"] + body + [f"SE*{len(body) + 2}*0001"]
    isa = (f"ISA*00*          *00*          *ZZ*PAYERA         *ZZ*CLAIMFLOW01    *261120*1200*^*00501*{control:09d}*0*T*:")
    gs = f"GS*HP*PAYERA*CLAIMFLOW01*20261120*1200*{control}*X*005010X221A1"
    return ("~\n".join([isa, gs, *segs, f"GE*1*{control}", f"IEA*1*{control:09d}"]) + "~\n").encode()


def _drop(inbox: Path, name: str, data: bytes) -> None:
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)


def test_claims_to_837p_status_dlq_and_835_to_adjudications(gateway):
    settings = gateway.settings
    codec = Codec()
    claims, _ = varied_claims(60, seed=21)
    good = [c for c in claims if c.coverage.relationship == SubscriberRelationship.SELF and c.frequency_code == "1"][:20]
    rejected = next(c for c in claims if c.coverage.relationship != SubscriberRelationship.SELF)  # no subscriber data: writer refuses
    assert len(good) == 20
    poison = random.Random(3).randbytes(64)

    prod = producer(settings)
    try:
        for c in good:
            prod.send(topics.CLAIMS.name, key=c.claim_id.encode(), value=codec.encode("Claim", c.to_avro()))
        dup = good[3]
        prod.send(topics.CLAIMS.name, key=dup.claim_id.encode(), value=codec.encode("Claim", dup.to_avro()))  # duplicate delivery
        rejected_bytes = codec.encode("Claim", rejected.to_avro())
        prod.send(topics.CLAIMS.name, key=rejected.claim_id.encode(), value=rejected_bytes)
        prod.send(topics.CLAIMS.name, key=b"poison-1", value=poison, headers=[("origin", b"test")])
        prod.flush()
    finally:
        prod.close()

    watch = [topics.CLAIMS_STATUS.name, topics.DLQ_PAYER_GATEWAY.name]
    assert wait_for(lambda: (lambda s: s[watch[0]] >= 20 and s[watch[1]] >= 2)(topic_sizes(watch, settings)), timeout=90), \
        f"gateway did not settle: {topic_sizes(watch, settings)}; log {gateway.log_dir}"

    outbox = Path(settings.x12_outbox)
    files = sorted(p for p in outbox.iterdir() if p.suffix == ".837")
    assert files and not [p for p in outbox.iterdir() if p.name.endswith(".tmp")]
    text = "".join(p.read_text() for p in files)
    for c in good:
        assert text.count(f"CLM*{c.claim_id}*") == 1, c.claim_id
    assert rejected.claim_id not in text

    statuses = [codec.decode(r.value, "ClaimStatusChanged") for r in read_topic(topics.CLAIMS_STATUS.name, settings)]
    submitted = [s for s in statuses if s["state"] == "submitted"]
    assert sorted(s["claim_id"] for s in submitted) == sorted(c.claim_id for c in good)
    assert len({s["event_id"] for s in submitted}) == 20

    dead = {r.key: r for r in read_topic(topics.DLQ_PAYER_GATEWAY.name, settings)}
    assert set(dead) == {b"poison-1", rejected.claim_id.encode()}
    h = headers_dict(dead[b"poison-1"].headers)
    assert dead[b"poison-1"].value == poison and h["dlq.stage"] == "decode" and h["dlq.source.topic"] == topics.CLAIMS.name
    assert h["origin"] == "test" and h["dlq.service"] == "payer-gateway"
    h = headers_dict(dead[rejected.claim_id.encode()].headers)
    assert dead[rejected.claim_id.encode()].value == rejected_bytes and h["dlq.stage"] == "rules"
    assert h["dlq.error.class"] == "ClaimExportError"

    # inbound: an 835 for five submitted claims, and a file that is not X12 at all
    inbox = Path(settings.x12_inbox)
    paid = good[:5]
    _drop(inbox, "remit-1.835", _remittance_835(paid, 901))
    junk = b"NOT AN X12 FILE\n"
    _drop(inbox, "junk.835", junk)
    assert wait_for(lambda: (inbox / "processed" / "remit-1.835").exists() and (inbox / "failed" / "junk.835").exists(), timeout=60), \
        f"inbox not processed: {sorted(p.name for p in inbox.rglob('*'))}"
    adjs = read_topic(topics.ADJUDICATIONS.name, settings)
    assert sorted(r.key.decode() for r in adjs) == sorted(c.claim_id for c in paid)
    decoded = [codec.decode(r.value, "Adjudication") for r in adjs]
    assert all(a["claim_status_code"] == "1" and a["paid_amount"] == a["total_charge"] for a in decoded)
    assert len({a["adjudication_id"] for a in decoded}) == 5
    dead = [r for r in read_topic(topics.DLQ_PAYER_GATEWAY.name, settings) if r.key == b"junk.835"]
    assert len(dead) == 1 and dead[0].value == junk
    h = headers_dict(dead[0].headers)
    assert h["dlq.source.topic"] == "file:junk.835" and h["dlq.stage"] == "decode"

    # the CLI export reads claims.v1 from the beginning into its own outbox
    env = {**os.environ, **gateway.env}
    other = gateway.root / "cli-export"
    proc = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "x12", "export", "--outbox", str(other / "outbox"),
                           "--state-dir", str(other / "state")], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # one rejected claim and one unreadable record
    assert "written 20, already written 1, rejected 1, unreadable 1" in proc.stdout, proc.stdout
    exported = "".join(p.read_text() for p in (other / "outbox").iterdir())
    assert all(exported.count(f"CLM*{c.claim_id}*") == 1 for c in good)

    # the CLI import publishes the same 835 again (same deterministic adjudication ids)
    proc = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "x12", "import", str(inbox / "processed")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "adjudications 5" in proc.stdout
    again = [codec.decode(r.value, "Adjudication")["adjudication_id"] for r in read_topic(topics.ADJUDICATIONS.name, settings)]
    assert len(again) == 10 and set(again) == {a["adjudication_id"] for a in decoded}
