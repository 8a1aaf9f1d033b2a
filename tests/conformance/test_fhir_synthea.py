"""Synthea's COVID-19 R4 bundles (../shared/data/fhir/synthea-covid-r4): every Encounter
becomes exactly one EncounterEvent, and re-mapping gives identical ids and fingerprints."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from services.fhir_gateway.ingest import ingest_paths

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SYNTHEA = SHARED / "fhir" / "synthea-covid-r4"

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(not SYNTHEA.is_dir(), reason=f"Synthea FHIR conformance data not present at {SYNTHEA}"),
]


def _patient_bundles() -> list[Path]:
    return sorted(p for p in SYNTHEA.glob("*.json") if not p.name.startswith(("hospitalInformation", "practitionerInformation")))


def _count_encounters(files: list[Path]) -> int:
    n = 0
    for f in files:
        for e in json.loads(f.read_text()).get("entry", []):
            if e.get("resource", {}).get("resourceType") == "Encounter":
                n += 1
    return n


@pytest.fixture(scope="module")
def ingested():
    return ingest_paths([SYNTHEA])


def test_every_patient_bundle_is_ingested(ingested):
    patients = _patient_bundles()
    assert len(patients) == 10
    sources = {Path(o.source).name for o in ingested.outcomes}
    assert {p.name for p in patients} <= sources
    assert ingested.summary["file_errors"] == 0
    assert not [o for o in ingested.outcomes if o.status == "error"]


def test_one_event_per_encounter(ingested):
    expected = _count_encounters(_patient_bundles())
    assert expected > 0
    assert len(ingested.events) == expected
    assert len({e.encounter_id for e in ingested.events}) == expected
    enc_outcomes = [o for o in ingested.outcomes if o.resource_type == "Encounter"]
    assert len(enc_outcomes) == expected and all(o.status == "used" and o.encounter_id for o in enc_outcomes)


def test_every_entry_has_an_outcome(ingested):
    entries = sum(len(json.loads(f.read_text()).get("entry", [])) for f in SYNTHEA.glob("*.json"))
    assert len([o for o in ingested.outcomes if o.index >= 0]) == entries


def test_remapping_gives_identical_ids_and_fingerprints(ingested):
    again = ingest_paths([SYNTHEA])
    assert [e.encounter_id for e in again.events] == [e.encounter_id for e in ingested.events]
    assert again.fingerprints == ingested.fingerprints
    assert again.new_events(dict(ingested.fingerprints)) == []  # re-ingest emits nothing new


def test_each_bundle_alone_maps_the_same_way(ingested):
    """A patient bundle sent on its own (as over HTTP) yields the same ids and content."""
    for f in _patient_bundles():
        alone = ingest_paths([f])
        for e in alone.events:
            assert ingested.fingerprints[e.encounter_id] == alone.fingerprints[e.encounter_id]


def test_codes_pass_through_with_system_uris(ingested):
    systems = Counter(d.system for e in ingested.events for d in e.diagnoses)
    systems.update(p.system for e in ingested.events for p in e.procedures)
    assert set(systems) <= {"http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx"}
    assert all(e.coverage is None for e in ingested.events)  # Synthea names payers by display only
    assert all(e.place_of_service == "11" for e in ingested.events)  # all AMB
    assert sum(1 for e in ingested.events if e.diagnoses) > 0
