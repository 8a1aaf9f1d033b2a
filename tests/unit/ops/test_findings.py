"""Every count has its list (issue #18, item 5): `ingest fhir` and `x12 import` list each
warning, finding and error with its location (--verbose, --report), without patient data;
the FHIR dry run reaches the same duplicate verdicts as the real run."""

from __future__ import annotations

import json
import re

from claimflow.settings import REPO_ROOT, Settings

FHIR = REPO_ROOT / "tests" / "fixtures" / "fhir"
X12 = REPO_ROOT / "tests" / "fixtures" / "x12"


def _count(pattern: str, text: str) -> int:
    return int(re.search(pattern, text).group(1))


def _patient_names() -> set[str]:
    names = set()
    for path in FHIR.rglob("*.json"):
        doc = json.loads(path.read_text())
        for e in doc.get("entry") or []:
            res = e.get("resource") if isinstance(e, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == "Patient":
                for n in res.get("name") or []:
                    names.update(x for x in [n.get("family"), *(n.get("given") or [])] if x)
    return names


def test_ingest_report_lists_every_warning_with_location_and_no_phi(cli, tmp_path, dead_bootstrap):
    report = tmp_path / "ingest.jsonl"
    result = cli("ingest", "fhir", str(FHIR), "--dry-run", "--report", str(report),
                 env={"CLAIMFLOW_DATA_DIR": str(tmp_path / "data"), "CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    assert result.exit_code == 2, result.output  # the fixtures hold broken entries on purpose
    items = [json.loads(line) for line in report.read_text().splitlines()]
    assert sum(i["kind"] == "warning" for i in items) == _count(r"warnings (\d+)", result.stdout) > 0
    assert sum(i["kind"] == "error" for i in items) == _count(r"errors (\d+)", result.stdout)
    assert sum(i["kind"] == "ignored" for i in items) == _count(r"ignored entries (\d+)", result.stdout)
    assert all(i["file"].endswith(".json") and i["location"].startswith(("entry ", "bundle")) for i in items)
    text = report.read_text()
    names = _patient_names()
    assert names and not [n for n in names if re.search(rf"\b{re.escape(n)}\b", text)]


def test_ingest_verbose_prints_each_warning(cli, tmp_path, dead_bootstrap):
    result = cli("ingest", "fhir", str(FHIR / "office-visit-without-coverage.json"), "--dry-run", "--verbose",
                 env={"CLAIMFLOW_DATA_DIR": str(tmp_path / "data"), "CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    warnings = [ln for ln in result.stderr.splitlines() if ": warning " in ln]
    assert len(warnings) == _count(r"warnings (\d+)", result.stdout) > 0
    assert all(ln.strip().startswith("office-visit-without-coverage.json entry ") for ln in warnings)


def test_dry_run_duplicate_verdicts_match_the_real_run(cli, tmp_path, dead_bootstrap):
    """Bundles the gateway already published are reported unchanged by the dry run too."""
    from services.fhir_gateway.app import DedupeStore
    from services.fhir_gateway.ingest import ingest_paths

    source = FHIR / "office-visit-with-coverage.json"
    data = tmp_path / "data"
    result = ingest_paths([source], source_system="fhir-gateway")
    assert result.events
    store = DedupeStore.for_settings(Settings(data_dir=data))
    store.record([(e, result.fingerprints[e.encounter_id]) for e in result.events])  # what a real run records
    store.close()
    out = cli("ingest", "fhir", str(source), "--dry-run", env={"CLAIMFLOW_DATA_DIR": str(data), "CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    assert out.exit_code == 0, out.output
    assert f"would publish (dry run) 0, unchanged {len(result.events)}" in out.stdout
    fresh = cli("ingest", "fhir", str(source), "--dry-run", env={"CLAIMFLOW_DATA_DIR": str(tmp_path / "other"),
                                                                 "CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    assert f"would publish (dry run) {len(result.events)}, unchanged 0" in fresh.stdout


def test_x12_import_report_lists_each_finding_and_error(cli, tmp_path, dead_bootstrap):
    report = tmp_path / "x12.jsonl"
    result = cli("x12", "import", str(X12), "--dry-run", "--state-dir", str(tmp_path / "state"), "--report", str(report),
                 env={"CLAIMFLOW_KAFKA_BOOTSTRAP": dead_bootstrap})
    items = [json.loads(line) for line in report.read_text().splitlines()]
    assert sum(i["kind"] == "finding" for i in items) == _count(r"findings (\d+)", result.stdout) > 0
    assert all(re.match(r"(segment \d+|file)", i["location"]) for i in items)
    assert {i["file"] for i in items} <= {p.name for p in X12.iterdir()}
