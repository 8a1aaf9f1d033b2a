"""Expected reimbursement on the real broker: 500 encounters through coder, scrubber (which
prices every line with the PFS + payers.yaml contracts), the payer simulator (which underpays,
downcodes and overpays a seeded share of priced lines) and the adjudicator (which compares at
posting). Every seeded variance on a paid line becomes exactly one work item, no correctly
paid line is flagged, and the underpayment dollars in the adjudicator's metric equal the sum
over the work items to the cent.

With ../shared/data/pfs/rvu25d present the scrubber gets the full CMS RVU25D release;
without it only the rate-table payer (AET45) and fixed-rate carve-outs carry expectations,
and the assertions below hold the same way."""

from __future__ import annotations

import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import Adjudication, Claim
from claimflow.publish import publish_records
from claimflow.reimbursement import pfs
from claimflow.synthetic import EncounterGenerator
from services.adjudicator.underpayments import _denied
from services.payer_sim.logic import SimConfig, seeded_variances
from tests.harness import Pipeline, _reset_topics

pytestmark = pytest.mark.integration
N = 500
RVU = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pfs" / "rvu25d"


@pytest.fixture
def priced_loop(kafka_broker, tmp_path):
    pipe = Pipeline(kafka_broker, tmp_path, services=("coder", "scrubber", "payer-sim", "adjudicator"))
    if RVU.is_dir():
        pfs.write_pfs(pfs.import_pfs(RVU), tmp_path / "refdata")
        pipe.env["CLAIMFLOW_PFS_DIR"] = str(tmp_path / "refdata")
    _reset_topics(pipe.settings)
    try:
        pipe.start()
    except BaseException:
        pipe.stop()  # a service that failed to come up must not leave the others running on our ports
        raise
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"


def _metric_sum(settings, name: str) -> Decimal:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.port_for('adjudicator')}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = Decimal("0")
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                total += Decimal(repr(s.value))
    return total


def test_every_seeded_underpayment_found_and_nothing_else(priced_loop):
    settings = priced_loop.settings
    codec = Codec()
    gen = EncounterGenerator(seed=2026, defect_rate=0.05)
    publish_records(topics.ENCOUNTERS, [gen.encounter(i)[0] for i in range(N)], "encounter_id", settings)
    outcome = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]

    def adjudicated() -> bool:
        s = topic_sizes(outcome + [topics.ADJUDICATIONS.name], settings)
        return sum(s[t] for t in outcome) >= N and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name] > 0

    assert wait_for(adjudicated, timeout=75), topic_sizes(outcome + [topics.ADJUDICATIONS.name], settings)
    claims = {c.claim_id: c for c in (Claim.model_validate(codec.decode(r.value, "Claim")) for r in read_topic(topics.CLAIMS.name, settings))}
    adjs = [Adjudication.model_validate(codec.decode(r.value, "Adjudication")) for r in read_topic(topics.ADJUDICATIONS.name, settings)]
    priced = sum(1 for c in claims.values() for l in c.lines if l.expected_allowed and l.expected_allowed.amount is not None)
    assert priced > 0

    # the seeded truth: variances the simulator applied to lines it paid (not denied)
    config = SimConfig(seed=settings.payer_sim_seed)
    truth = set()
    for a in adjs:
        if a.claim_status_code not in ("1", "2", "3", "19", "20", "21"):
            continue
        seeded = seeded_variances(claims[a.claim_id], config)
        for line in a.service_lines:
            v = seeded.get(line.line_number)
            if v is not None and not _denied(line):
                truth.add((a.claim_id, line.line_number, v.kind))
    kinds = Counter(k for *_, k in truth)
    assert kinds["underpaid"] >= 10 and kinds["downcoded"] >= 1, kinds

    def items() -> list[dict]:
        return [codec.decode(r.value, "UnderpaymentWorkItem") for r in read_topic(topics.UNDERPAYMENTS.name, settings)]

    assert wait_for(lambda: len(items()) >= len(truth), timeout=30, interval=1.0), (len(items()), len(truth))
    found = items()
    assert {(i["claim_id"], i["line_number"], i["kind"]) for i in found} == truth
    assert len(found) == len(truth)  # each once
    for i in found:
        assert i["expected_amount"] > 0 and i["contract_term"] and i["evidence"]
        if i["kind"] == "downcoded":
            assert i["downcoded"] and i["procedure_code"] != i["adjudicated_procedure_code"]
        assert i["refund_liability"] == (i["kind"] == "overpaid")

    want = sum((i["recoverable_amount"] for i in found), Decimal("0.00"))
    assert wait_for(lambda: _metric_sum(settings, "claimflow_underpayment_dollars_total").quantize(Decimal("0.01")) == want, timeout=15)
    assert _metric_sum(settings, "claimflow_underpayment_items_total") == len(found)
    assert _metric_sum(settings, "claimflow_expected_allowed_dollars_total") > 0
    dead = sum(topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], settings).values())
    assert dead == 0
    print(f"\n{len(claims)} claims, {priced} priced lines, {len(adjs)} remits; work items {dict(kinds)}, "
          f"underpayment metric ${want} (PFS {'RVU25D' if RVU.is_dir() else 'absent'})")
