"""FHIR gateway dedupe store: unchanged encounters are skipped, changed ones get version+1,
state persists across restarts (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

from claimflow.settings import Settings
from services.fhir_gateway.app import DedupeStore, STORE_NAME
from services.fhir_gateway.mapping import fingerprint, map_bundle

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"


def _events():
    result = map_bundle(json.loads((FIX / "office-visit-with-coverage.json").read_text()))
    assert result.events
    return result.events


def test_plan_record_and_versions(tmp_path):
    store = DedupeStore(tmp_path / "s.sqlite3")
    events = _events()
    todo, unchanged = store.plan(events)
    assert unchanged == 0 and [e.encounter_id for e, _ in todo] == [e.encounter_id for e in events]
    assert all(e.version == 1 for e, _ in todo)
    # nothing recorded until delivery: a retry plans the same events again
    assert len(store.plan(events)[0]) == len(events)
    store.record(todo)
    assert store.plan(events) == ([], len(events))
    store.close()

    reopened = DedupeStore(tmp_path / "s.sqlite3")  # survives a restart
    assert reopened.plan(events) == ([], len(events))
    changed = events[0].model_copy(update={"place_of_service": "02" if events[0].place_of_service != "02" else "11"})
    assert fingerprint(changed) != fingerprint(events[0])
    todo, unchanged = reopened.plan([changed])
    assert unchanged == 0 and [(e.encounter_id, e.version) for e, _ in todo] == [(changed.encounter_id, 2)]
    reopened.record(todo)
    assert reopened.get(changed.encounter_id) == (fingerprint(changed), 2)
    # changing back is a change too: version 3, never a version reused
    todo, _ = reopened.plan([events[0]])
    assert todo[0][0].version == 3
    reopened.close()


def test_repeats_within_one_request_count_once(tmp_path):
    store = DedupeStore(tmp_path / "s.sqlite3")
    ev = _events()[0]
    todo, unchanged = store.plan([ev, ev])
    assert len(todo) == 1 and unchanged == 1
    store.close()


def test_store_location_follows_settings(tmp_path):
    store = DedupeStore.for_settings(Settings(data_dir=tmp_path))
    assert store.path == tmp_path / "fhir-gateway" / STORE_NAME and store.path.exists() and len(store) == 0
    store.close()
