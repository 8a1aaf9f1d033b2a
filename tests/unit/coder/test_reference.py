"""Reference data: maps, starter lists, fee schedule, fiscal-year availability."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.coder.logic import Coder
from services.coder.reference import CodingReference

from .coder_helpers import NOW, dx, make_enc, reason_codes

SYNTHEA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fhir" / "synthea-covid-r4"


def _synthea_codes(resource_type):
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea sample bundles not present at {SYNTHEA}")
    codes = set()
    for f in SYNTHEA.glob("*.json"):
        for e in json.loads(f.read_text()).get("entry", []):
            r = e.get("resource", {})
            if r.get("resourceType") == resource_type:
                codes |= {c["code"] for c in r["code"]["coding"] if c.get("system") == "http://snomed.info/sct"}
    return codes


def test_every_synthea_condition_is_in_the_map_explicitly(ref):
    codes = _synthea_codes("Condition")
    assert codes, "no conditions found"
    missing = codes - set(ref.snomed_dx)
    assert not missing, f"unmapped Synthea conditions: {sorted(missing)}"
    for c in codes:
        assert ref.snomed_dx[c].status in {"map", "ignore", "review"}
        assert ref.snomed_dx[c].status == "map" or ref.snomed_dx[c].note  # an explicit reason when not mapped


def test_every_synthea_procedure_is_in_the_procedure_map(ref):
    codes = _synthea_codes("Procedure")
    assert codes - set(ref.snomed_px) == set()


# (SNOMED concept, fiscal year) whose target a mid-year addendum added after the loaded release
# of that year: U07.1 (1 April 2020) is not in FY2020's October 2019 release, so those dates go
# to review instead of being coded by another year's set
NOT_IN_LOADED_RELEASE: set[tuple[str, int]] = set()  # U07.1 before its addendum now falls back to B97.29


def test_map_targets_are_billable_in_every_loaded_year(ref):
    """The tabular audit: every mapped row resolves, in every loaded fiscal year, to a
    billable target (alternatives, newest first, like ``R05.9;R05`` cover codes split between years),
    every row names its rationale, and every review row's candidates exist in some year."""
    assert len(ref.snomed_dx) >= 400
    for row in ref.snomed_dx.values():
        assert row.note, f"{row.snomed_code}: no rationale"
        if row.status == "map":
            assert 0 < row.confidence <= 1
            for fy, cs in ref.code_sets.items():
                if (row.snomed_code, fy) in NOT_IN_LOADED_RELEASE:
                    assert not any(cs.exists(t) for t in row.targets) and "October 2019 release" in row.note
                    continue
                billable = [t for t in row.targets if cs.is_billable(t)]
                assert billable and row.target_for(cs) == billable[0], (row.snomed_code, row.targets, fy)
        if row.status == "review":
            assert row.targets, f"{row.snomed_code}: a review row lists its candidate codes"
            for t in row.targets:
                assert any(cs.exists(t) for cs in ref.code_sets.values()), (row.snomed_code, t)
    for row in ref.snomed_px.values():
        if row.status == "map":
            assert row.code in ref.procedures


def test_starter_list_formats_and_fees(ref):
    from services.coder.logic import CPT_RE, HCPCS_RE
    for code, row in ref.procedures.items():
        assert (CPT_RE.match(code) and row.code_type == "cpt") or (HCPCS_RE.match(code) and row.code_type == "hcpcs")
        assert row.description and len(row.description) < 80  # own short words
        assert ref.fee(code, []) is not None, code


def test_missing_previous_year_is_explicit_and_routes_to_review(tmp_path, ref):
    # an empty cache folder and no download: FY2025 must be reported missing, never replaced
    lean = CodingReference.load(cache_dir=tmp_path, fetch_missing=False)
    assert 2025 in lean.missing_fiscal_years and "not in the code-set cache" in lean.missing_fiscal_years[2025]
    result = Coder(lean).code(make_enc(dos=date(2025, 5, 5), minutes=25, dxs=[dx("I10", primary=True)]), NOW)
    assert result.coded is None
    assert "DX_CODE_SET_UNAVAILABLE" in reason_codes(result)
    assert any("FY2025" in r.message for r in result.review.reasons)


def test_future_fiscal_year_policy(ref):
    enc = make_enc(dos=date(2026, 10, 5), minutes=25, dxs=[dx("I10", primary=True)])
    coded = Coder(ref).code(enc, NOW).coded
    assert coded is not None and "provisional for FY2027" in coded.diagnoses[0].code_set_version
    strict = CodingReference(ref.code_sets, ref.missing_fiscal_years, ref.snomed_dx, ref.snomed_px, ref.procedures,
                             ref.fees, ref.index, "review", ref.versions)
    assert "DX_CODE_SET_UNAVAILABLE" in reason_codes(Coder(strict).code(enc, NOW))


def test_fee_schedule_is_configurable(tmp_path, ref):
    fees = tmp_path / "fees.csv"
    fees.write_text("code,modifier,charge\n99213,,999.00\n")
    custom = CodingReference.load(fee_schedule=fees, code_sets=ref.code_sets)
    assert custom.fee("99213", []) == Decimal("999.00") and custom.fee("99214", []) is None
    result = Coder(custom).code(make_enc(minutes=35, dxs=[dx("I10", primary=True)]), NOW)
    assert "CHARGE_MISSING" in reason_codes(result)
