"""Importer for the CMS NCCI add-on code (AOC) edit file, saved as TXT/CSV from the
quarterly distribution: notes above the header, columns found by name, CMS date formats."""

from __future__ import annotations

from datetime import date

import pytest

from services.scrubber import refdata as rd
from services.scrubber.refdata_cli import run_import

# Synthetic rows in the AOC layout (real code numbers, our own values); tab-delimited.
AOC_TXT = "\n".join([
    "Notes: add-on code edits; see the NCCI policy manual for how to apply them",
    "",
    "\t".join(["Add-on Code", "Add-On Code Effective Date", "Add-On Code Deletion Date", "Primary Code",
               "Primary Code Effective Date", "Primary Code Deletion Date", "AOC Edit Type",
               "AOC Edit Effective Date", "AOC Edit Deletion Date", "Special Instruction Notes"]),
    "\t".join(["11103", "20190101", "*", "11102", "20190101", "*", "1", "20190101", "*", ""]),
    "\t".join(["11103", "20190101", "*", "11104", "20190101", "*", "1", "20190101", "20231231", ""]),
    "\t".join(["99417", "20210101", "*", "CCCCC", "", "", "2", "20210101", "*", "no listed primary"]),
])


@pytest.fixture
def aoc_file(tmp_path):
    path = tmp_path / "AOC_V2026Q3_test.txt"
    path.write_text(AOC_TXT)
    return path


def test_import_finds_columns_by_name_and_keeps_dates(aoc_file):
    table = rd.import_addon(aoc_file)
    assert table.info.version == "2026Q3" and table.info.rows == 3 and table.info.sha256
    assert table.is_addon("11103") and table.is_addon("99417") and not table.is_addon("11102")
    edit_type, primaries = table.primaries("11103", date(2023, 12, 31))  # deletion day still live
    assert edit_type == 1 and primaries == frozenset({"11102", "11104"})
    assert table.primaries("11103", date(2024, 1, 1))[1] == frozenset({"11102"})  # 11104 pair deleted
    assert table.primaries("11103", date(2018, 12, 31)) is None  # before the edit existed
    assert table.primaries("99417", date(2026, 1, 5)) == (2, frozenset())  # CCCCC: no specific primary


def test_import_writes_the_normalized_file_the_scrubber_loads(aoc_file, tmp_path):
    out = tmp_path / "ref"
    rows, path, version = run_import("addon", [aoc_file], out)
    assert rows == 3 and path.name == "addon.csv" and version == "2026Q3"
    data = rd.load_refdata(out)
    assert data.sources["addon"] == "imported"
    assert data.addon.primaries("11103", date(2024, 6, 1))[1] == frozenset({"11102"})


def test_csv_and_us_dates_are_accepted(tmp_path):
    path = tmp_path / "aoc.csv"
    path.write_text("Add-on Code,Primary Code,AOC Edit Type,AOC Edit Effective Date,AOC Edit Deletion Date\n"
                    "17003,17000,1,01/01/1996,\n")
    table = rd.import_addon(path, version="test")
    assert table.primaries("17003", date(2026, 1, 1)) == (1, frozenset({"17000"}))


@pytest.mark.parametrize("body, fragment", [
    ("Code,Something\n11103,1\n", "no header row"),
    ("Add-on Code,Primary Code,AOC Edit Type,AOC Edit Effective Date,AOC Edit Deletion Date\n11103,11102,x,20190101,\n", "bad type"),
    ("Add-on Code,Primary Code,AOC Edit Type,AOC Edit Effective Date,AOC Edit Deletion Date\n1110,11102,1,20190101,\n", "5-character"),
])
def test_malformed_files_are_refused_with_a_clear_error(tmp_path, body, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(rd.RefDataError) as err:
        rd.import_addon(path)
    assert fragment in str(err.value)
