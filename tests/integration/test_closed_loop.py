"""Adjudicator acceptance on the real broker with the payer simulator: encounters in,
claims adjudicated by the simulator, ledger totals equal the sums over the adjudications
to the cent, and every denial is either an appeal work item or carries a recorded
non-appeal disposition."""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from decimal import Decimal

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow.synthetic import EncounterGenerator

pytestmark = pytest.mark.integration
N = 150


def _ledger(settings, claim_id: str) -> dict | None:
    url = f"http://127.0.0.1:{settings.port_for('adjudicator')}/claims/{claim_id}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def test_ledger_totals_match_adjudications_to_the_cent(closed_loop):
    settings = closed_loop.settings
    codec = Codec()
    gen = EncounterGenerator(seed=77, defect_rate=0.1)
    encounters = [gen.encounter(i)[0] for i in range(N)]
    publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings)

    outcome_topics = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]

    def claims_adjudicated() -> bool:
        s = topic_sizes(outcome_topics + [topics.ADJUDICATIONS.name], settings)
        return sum(s[t] for t in outcome_topics) >= N and s[topics.ADJUDICATIONS.name] >= s[topics.CLAIMS.name] > 0

    assert wait_for(claims_adjudicated, timeout=150), topic_sizes(outcome_topics + [topics.ADJUDICATIONS.name], settings)
    claims = [codec.decode(r.value, "Claim") for r in read_topic(topics.CLAIMS.name, settings)]
    adjudications = [codec.decode(r.value, "Adjudication") for r in read_topic(topics.ADJUDICATIONS.name, settings)]
    assert {a["claim_id"] for a in adjudications} == {c["claim_id"] for c in claims}

    by_claim = defaultdict(list)
    for a in adjudications:
        by_claim[a["claim_id"]].append(a)

    def expected(claim_id):
        adjs = by_claim[claim_id]
        adjusted = sum((x["amount"] for a in adjs for x in a["claim_adjustments"] + [y for l in a["service_lines"] for y in l["adjustments"]]), Decimal("0.00"))
        return {"charged": sum((a["total_charge"] for a in adjs), Decimal("0.00")),
                "paid": sum((a["paid_amount"] for a in adjs), Decimal("0.00")),
                "patient_responsibility": sum((a["patient_responsibility"] for a in adjs), Decimal("0.00")),
                "adjusted": adjusted}

    def all_posted() -> bool:
        return all((_ledger(settings, cid) or {}).get("postings") for cid in by_claim)

    assert wait_for(all_posted, timeout=90, interval=1.0)
    grand = defaultdict(lambda: Decimal("0.00"))
    grand_expected = defaultdict(lambda: Decimal("0.00"))
    for cid in by_claim:
        entry = _ledger(settings, cid)
        got = {k: Decimal(entry["totals"][k]) for k in ("charged", "paid", "patient_responsibility", "adjusted")}
        assert got == expected(cid), cid
        for k, v in got.items():
            grand[k] += v
            grand_expected[k] += expected(cid)[k]
    assert grand == grand_expected
    assert grand["paid"] > 0

    # every denial is routed: an appeal work item, or a recorded non-appeal disposition
    denied = {cid for cid, adjs in by_claim.items() if any(a["claim_status_code"] == "4" for a in adjs)}
    assert denied, "the simulator's denial rates should deny some of 150 claims"

    def routed() -> bool:
        appeals = {codec.decode(r.value, "DenialWorkItem")["claim_id"] for r in read_topic(topics.APPEALS.name, settings)}
        dispositions = {s["claim_id"] for s in (codec.decode(r.value, "ClaimStatusChanged") for r in read_topic(topics.CLAIMS_STATUS.name, settings))
                        if s["disposition"] is not None}
        return denied <= appeals | dispositions

    assert wait_for(routed, timeout=30)
    dead = sum(topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], settings).values())
    assert dead == 0
