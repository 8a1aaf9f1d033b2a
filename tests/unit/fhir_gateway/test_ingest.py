"""ingest_paths: files and directories, file-level errors, re-ingest emits nothing new."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.fhir_gateway.ingest import ingest_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"


def test_directory_with_a_broken_file_processes_the_rest(tmp_path: Path):
    shutil.copy(FIXTURES / "office-visit-with-coverage.json", tmp_path / "a.json")
    shutil.copy(FIXTURES / "telehealth-visit-relative-refs.json", tmp_path / "b.json")
    (tmp_path / "c.json").write_text('{"resourceType": "Bundle", "type": "batch", "entry": [')
    (tmp_path / "d.json").write_text('{"resourceType": "Patient", "id": "x"}')
    result = ingest_paths([tmp_path])
    assert len(result.events) == 2
    s = result.summary
    assert s["files"] == 4 and s["file_errors"] == 2
    bad = {Path(o.source).name: o for o in result.outcomes if o.index == -1}
    assert bad["c.json"].code == "structure" and "not valid JSON" in bad["c.json"].reason
    assert bad["d.json"].status == "error"


def test_reingesting_emits_zero_new_events(tmp_path: Path):
    first = ingest_paths([FIXTURES / "office-visit-with-coverage.json", FIXTURES / "synthea-style-directory"])
    published = dict(first.fingerprints)
    again = ingest_paths([FIXTURES / "office-visit-with-coverage.json", FIXTURES / "synthea-style-directory"])
    assert again.new_events(published) == []
    assert len(first.new_events({})) == len(first.events) == 2


def test_oversize_file_is_a_file_error(tmp_path: Path):
    shutil.copy(FIXTURES / "office-visit-with-coverage.json", tmp_path / "a.json")
    result = ingest_paths([tmp_path / "a.json"], max_file_bytes=10)
    assert result.events == [] and result.outcomes[0].code == "too-long"
