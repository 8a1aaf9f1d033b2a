"""Coder and scrubber acceptance on the real broker: 500 generated encounters with seeded
known defects produce exactly the expected held/clean split and findings; encounters the
coder must not code automatically (a header diagnosis code) come out as review items."""

from __future__ import annotations

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.models import DocumentedDiagnosis
from claimflow.publish import publish_records
from claimflow.synthetic import ICD10, EncounterGenerator

pytestmark = pytest.mark.integration

EXPECTED_FAMILY = {"missing_coverage": "required_data", "bad_rendering_npi": "npi", "missing_tax_id": "required_data"}


def test_seeded_defects_give_the_expected_split_and_findings(pipeline):
    settings = pipeline.settings
    codec = Codec()
    gen = EncounterGenerator(seed=500, defect_rate=0.2)
    encounters, defects = [], {}
    for i in range(500):
        enc, defect = gen.encounter(i)
        encounters.append(enc)
        defects[enc.encounter_id] = defect
    header = []
    for i in range(500, 510):  # E11 is a category header: never billable, never silently picked
        enc, _ = gen.encounter(i)
        dx = [DocumentedDiagnosis(system=ICD10, code="E11", display="diabetes", is_primary=True)] + enc.diagnoses[1:]
        header.append(enc.model_copy(update={"diagnoses": dx}))
    publish_records(topics.ENCOUNTERS, encounters + header, "encounter_id", settings)

    names = [topics.CLAIMS.name, topics.CLAIMS_HELD.name, topics.CODING_REVIEW.name]
    assert wait_for(lambda: sum(topic_sizes(names, settings).values()) >= 510, timeout=180), topic_sizes(names, settings)

    review = {codec.decode(r.value, "CodingReviewItem")["encounter_id"]: codec.decode(r.value, "CodingReviewItem")
              for r in read_topic(topics.CODING_REVIEW.name, settings)}
    assert set(review) == {e.encounter_id for e in header}
    for item in review.values():
        codes = {r["code"] for r in item["reasons"]}
        assert "DX_HEADER_CODE" in codes
        header_reason = next(r for r in item["reasons"] if r["code"] == "DX_HEADER_CODE")
        assert header_reason["candidates"] and all(c.startswith("E11.") for c in header_reason["candidates"])

    held = {}
    for r in read_topic(topics.CLAIMS_HELD.name, settings):
        h = codec.decode(r.value, "HeldClaim")
        held[h["claim"]["encounter_id"]] = h
    clean = [codec.decode(r.value, "Claim") for r in read_topic(topics.CLAIMS.name, settings)]
    seeded = {eid for eid, d in defects.items() if d}
    assert set(held) == seeded
    assert {c["encounter_id"] for c in clean} == set(defects) - seeded
    assert len(clean) + len(held) == 500  # exactly one outcome each
    for eid, h in held.items():
        families = {f["family"] for f in h["claim"]["findings"] if f["severity"] == "error"}
        assert EXPECTED_FAMILY[defects[eid]] in families, (defects[eid], families)
        assert h["error_count"] == sum(1 for f in h["claim"]["findings"] if f["severity"] == "error")
    for c in clean:
        assert all(f["severity"] == "warning" for f in c["findings"])
        assert c["total_charge"] == sum(line["charge"] for line in c["lines"])
