from datetime import date

from claimflow.models import EditFamily, Severity

from services.scrubber.refdata import FrozenDiagnosisCodeSet, IcdCatalog, fiscal_year

from .scrub_helpers import coded, line, rule_ids

DX = EditFamily.DIAGNOSIS_VALIDITY
PROC = EditFamily.PROCEDURE_VALIDITY


def test_valid_billable_codes_pass(run):
    assert run(coded(dx=["I10", "E11.9", "M54.50"]), DX) == []


def test_unknown_and_header_codes_fail(run):
    fs = run(coded([line("99213", ptr=[1, 2])], dx=["E11", "Q99.99"]), DX)
    assert rule_ids(fs) == ["DX-001", "DX-002"]
    header = [f for f in fs if f.rule_id == "DX-002"][0]
    assert header.line_numbers == [1] and header.dataset == "icd10cm" and header.source_row["code"] == "E11"


def test_fiscal_year_boundary():
    assert fiscal_year(date(2025, 9, 30)) == 2025
    assert fiscal_year(date(2025, 10, 1)) == 2026


def test_per_fiscal_year_code_set_plugs_in(run):
    fy25 = FrozenDiagnosisCodeSet("test FY2025", ["I10", "E119", "E11"], ["I10", "E119"])
    fy26 = FrozenDiagnosisCodeSet("test FY2026", ["I10"], ["I10"])
    cat = IcdCatalog({2025: fy25, 2026: fy26})
    assert cat.for_dos(date(2025, 9, 30)) == (fy25, True)
    assert cat.for_dos(date(2025, 10, 1)) == (fy26, True)
    assert cat.for_dos(date(2027, 1, 1)) == (fy26, False)  # nearest older year stands in
    assert IcdCatalog({2026: fy26}, strict=True).for_dos(date(2027, 1, 1)) == (None, False)


def test_dos_outside_loaded_years_warns(run):
    fs = run(coded(dos=date(2026, 10, 1)), DX)
    assert rule_ids(fs) == ["DX-003"] and fs[0].severity == Severity.WARNING


def test_procedure_formats(run):
    assert run(coded([line("99213"), line("J1885")]), PROC) == []
    assert rule_ids(run(coded([line("9921"), line("ABCDE")]), PROC)) == ["PROC-001", "PROC-001"]


def test_unknown_cpt_is_a_warning_not_an_error(run):
    fs = run(coded([line("99213"), line("27447")]), PROC)
    assert rule_ids(fs) == ["PROC-003"] and fs[0].severity == Severity.WARNING and fs[0].line_numbers == [2]
