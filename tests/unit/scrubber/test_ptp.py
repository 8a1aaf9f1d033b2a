from datetime import date

import pytest

from claimflow.models import EditFamily

from services.scrubber.refdata import DatasetInfo, PtpTable, pack_code, unpack_code

from .scrub_helpers import coded, line, rule_ids

PTP = EditFamily.NCCI_PTP


def test_no_edit_between_unrelated_codes(run):
    assert run(coded([line("99213"), line("36415")]), PTP) == []


def test_mi_1_not_bypassed_is_an_error_with_bypass_modifiers(run):
    fs = run(coded([line("99213"), line("11102")]), PTP)
    assert rule_ids(fs) == ["PTP-002"]
    f = fs[0]
    assert f.line_numbers == [1, 2]  # column 2 (99213, line 1) and column 1 (11102, line 2)
    assert f.source_row["column1"] == "11102" and f.source_row["column2"] == "99213" and f.source_row["modifier_indicator"] == "1"
    assert {"25", "59", "XU"} <= set(f.bypass_modifiers)
    assert f.dataset and f.dataset_version


def test_mi_1_bypassed_by_25_on_the_em_line(run):
    assert run(coded([line("99213", ["25"]), line("11102")]), PTP) == []


def test_mi_1_bypassed_by_59_on_the_procedure_line(run):
    assert run(coded([line("11102"), line("11055", ["59"])]), PTP) == []
    assert run(coded([line("11102"), line("11055", ["XS"])]), PTP) == []


def test_59_on_the_em_line_does_not_bypass_an_em_pair(run):
    assert rule_ids(run(coded([line("99213", ["59"]), line("11102")]), PTP)) == ["PTP-002"]


def test_mi_0_is_not_bypassed_by_59(run):
    fs = run(coded([line("93000"), line("93010", ["59"])]), PTP)
    assert rule_ids(fs) == ["PTP-001"] and fs[0].bypass_modifiers == [] and fs[0].source_row["modifier_indicator"] == "0"


@pytest.mark.parametrize("dos,hit", [
    (date(2021, 12, 31), False),  # day before effective
    (date(2022, 1, 1), True),  # effective day
    (date(2023, 12, 31), True),  # deletion day: last day the edit applies
    (date(2024, 1, 1), False),  # day after deletion
])
def test_effective_and_deletion_dates(run, dos, hit):
    fs = run(coded([line("0001A"), line("36591")], dos=dos), PTP)
    assert rule_ids(fs) == (["PTP-001"] if hit else [])


def test_mi_9_never_applies(run):
    assert run(coded([line("0001A"), line("90473")], dos=date(2022, 1, 1)), PTP) == []


def test_packed_table_lookup_and_multiple_periods():
    d = date.toordinal
    rows = [("11102", "99213", d(date(2019, 1, 1)), d(date(2020, 12, 31)), 0, "a"),
            ("11102", "99213", d(date(2021, 1, 1)), 0, 1, "b"),
            ("0001A", "G0008", d(date(2022, 1, 1)), d(date(2022, 1, 1)), 9, "c")]
    t = PtpTable.build(rows, DatasetInfo("t", "1"))
    assert len(t) == 3
    assert t.active("11102", "99213", date(2020, 6, 1)).modifier_indicator == 0
    assert t.active("11102", "99213", date(2021, 6, 1)).modifier_indicator == 1
    assert t.active("11102", "99213", date(2018, 6, 1)) is None
    assert t.active("0001A", "G0008", date(2022, 1, 1)) is None
    assert t.active("99213", "11102", date(2021, 6, 1)) is None  # direction matters
    assert [r.rationale for r in t.rows_for("11102", "99213")] == ["a", "b"]
    assert sorted(t.iter_rows()) == sorted(rows)
    assert unpack_code(pack_code("0591T")) == "0591T" and pack_code("ZZZZZ") < 2 ** 26
