"""ICD-10-CM code sets per fiscal year."""

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
