"""Scrubber importers against the official CMS / X12 files in ../shared/data (read-only,
never copied into the repo). Skips with a reason when the folder is absent."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.scrubber import refdata as rd
from services.scrubber.refdata_cli import refdata as refdata_cli

pytestmark = pytest.mark.conformance

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NCCI = SHARED / "ncci"
CODESETS = SHARED / "codesets"
PTP_FILE = NCCI / "ccipra-v322r0-f1.PARTIAL_EXCERPT.txt"
MUE_FILE = NCCI / "MCR_MUE_PractitionerServices_Eff_07-01-2026.excerpt.csv"


@pytest.fixture(scope="module", autouse=True)
def _shared_data_present():
    if not SHARED.is_dir():
        pytest.skip(f"third-party reference data not present at {SHARED} (conformance data sits beside the repo)")


# --- NCCI PTP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ptp() -> rd.PtpTable:
    return rd.import_ptp(PTP_FILE)


def test_ptp_counts_and_version(ptp):
    assert len(ptp) == 40  # 46 lines minus the 6-line header block
    assert ptp.info.version == "v322r0" and ptp.info.name == "ncci_ptp"
    mis = [r[4] for r in ptp.iter_rows()]
    assert (mis.count(0), mis.count(1), mis.count(9)) == (6, 28, 6)
    assert len({r[0] for r in ptp.iter_rows()}) == 4  # 0001A, 0001M, 0001U, ...
    assert sum(1 for r in ptp.iter_rows() if r[3] == 0) == 7  # '*' deletion = still in force


def test_ptp_known_rows(ptp):
    [row] = ptp.rows_for("0001A", "36591")
    assert (row.effective, row.deletion, row.modifier_indicator) == (date(2022, 1, 1), date(2023, 12, 31), 0)
    assert row.rationale == "CPT Manual or CMS manual coding instruction"
    [retro] = ptp.rows_for("0001A", "90473")
    assert retro.modifier_indicator == 9 and retro.effective == retro.deletion == date(2022, 1, 1)
    [open_ended] = ptp.rows_for("0001U", "80503")
    assert open_ended.deletion is None and open_ended.modifier_indicator == 1


def test_ptp_dates_apply(ptp):
    assert ptp.active("0001A", "36591", date(2023, 12, 31)) is not None
    assert ptp.active("0001A", "36591", date(2024, 1, 1)) is None
    assert ptp.active("0001A", "90473", date(2022, 1, 1)) is None  # MI 9
    assert ptp.active("0001U", "0028U", date(2018, 9, 30)) is not None
    assert ptp.active("0001U", "0028U", date(2018, 10, 1)) is None


def test_ptp_header_block_is_required_layout(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0001A\t36591\t\t20220101\t20231231\t7\tx\n")
    with pytest.raises(rd.RefDataError):
        rd.import_ptp(bad)


# --- MUE --------------------------------------------------------------------------------


def test_mue_counts_and_rows():
    mue = rd.import_mue(MUE_FILE)
    assert mue.info.rows == 44 and len(mue) == 44
    assert mue.info.version == "2026-07-01"
    e = mue.get("0009U")
    assert (e.value, e.mai, e.rationale, e.effective) == (2, 3, "Nature of Analyte", date(2026, 7, 1))
    e = mue.get("0001U")
    assert (e.value, e.mai) == (1, 2)
    mais = [r[2] for r in mue.iter_rows()]
    assert set(mais) <= {2, 3} and mais.count(3) + mais.count(2) == 44


# --- HCPCS ------------------------------------------------------------------------------


def test_hcpcs_counts_and_rows():
    h = rd.import_hcpcs(CODESETS / "hcpcs_2025_oct.csv")
    assert len(h) == 8846 and h.procedures() == 8463 and len(h.modifiers()) == 383
    assert h.info.version == "2025-oct"
    assert h.get("G0439").kind == "procedure" and h.get("XE").kind == "modifier"
    assert h.get("J1885").added == "1993-01-01"
    assert h.get("99213") is None  # CPT is not in the HCPCS Level II file


# --- MCE --------------------------------------------------------------------------------


def test_mce_versions_and_rows():
    m = rd.import_mce(CODESETS / "mce")
    assert sorted(v.version for v in m.versions.values()) == ["33", "34", "35", "36", "37"]
    assert sorted(m.versions) == [2016, 2017, 2018, 2019, 2020]
    assert m.rows() == 67479
    v37 = m.versions[2020]
    assert v37.rows() == 14153
    assert len(v37.edits[("Male_Only", "D")]) == 529 and len(v37.edits[("Female_Only", "P")]) == 2294
    assert "N400" in v37.edits[("Male_Only", "D")] and "Z00129" in v37.edits[("Pediatric_Only", "D")]
    assert set(v37.dx_edits["O80"]) == {"Maternity_Only", "Female_Only"}
    assert m.for_dos(date(2019, 10, 1)).version == "37" and m.for_dos(date(2026, 6, 1)).version == "37"
    assert m.for_dos(date(2015, 12, 1)).version == "33"


# --- CARC / RARC ------------------------------------------------------------------------


def test_carc_rarc_counts_and_rows():
    carc = rd.import_carc(CODESETS / "carc.csv")
    rarc = rd.import_rarc(CODESETS / "rarc.csv")
    assert len(carc) == 407 and sum(e.status == "current" for e in carc.entries.values()) == 297
    assert len(rarc) == 1216 and sum(e.status == "deactivated" for e in rarc.entries.values()) == 79
    assert carc.info.version == "2026-08-17"
    for code in ("16", "18", "29", "45", "97", "236"):
        assert carc.is_current(code)
    assert rarc.is_current("MA130") and rarc.is_current("N211") and not rarc.is_current("M101")


# --- CLI + scrubber on imported data ----------------------------------------------------


def test_cli_imports_everything_and_scrubber_loads_it(tmp_path):
    runner = CliRunner()
    jobs = [("ptp", PTP_FILE), ("mue", MUE_FILE), ("hcpcs", CODESETS / "hcpcs_2025_oct.csv"), ("mce", CODESETS / "mce"),
            ("carc", CODESETS / "carc.csv"), ("rarc", CODESETS / "rarc.csv")]
    for kind, src in jobs:
        res = runner.invoke(refdata_cli, ["import", kind, str(src), "--out", str(tmp_path)])
        assert res.exit_code == 0, res.output
    manifest = rd.read_manifest(tmp_path)
    assert {k: manifest[k].rows for k in manifest} == {"ptp": 40, "mue": 44, "hcpcs": 8846, "mce": 67479, "carc": 407, "rarc": 1216}
    assert "v322r0" in runner.invoke(refdata_cli, ["show", str(tmp_path)]).output

    from services.scrubber.history import InMemoryClaimHistory
    from services.scrubber.logic import Scrubber, ScrubReference
    from tests.unit.scrubber.scrub_helpers import coded, line

    ref = ScrubReference.load(tmp_path)
    assert ref.data.sources["ptp"] == "imported" and ref.data.sources["addon"] == "starter"
    assert ref.data.ptp.info.version == "v322r0" and ref.data.hcpcs is not None
    s = Scrubber(ref)
    now = datetime(2024, 1, 15, tzinfo=timezone.utc)
    res = s.scrub(coded([line("0001A"), line("36591")], dos=date(2023, 12, 31)), InMemoryClaimHistory(), now)
    f = [f for f in res.held.claim.findings if f.rule_id == "PTP-001"][0]
    assert f.dataset == "ncci_ptp" and f.dataset_version == "v322r0" and f.source_row["deletion"] == "2023-12-31"
    # an invented HCPCS code is rejected once the HCPCS release is loaded
    res = s.scrub(coded([line("99213"), line("G0000")]), InMemoryClaimHistory(), datetime(2026, 7, 1, tzinfo=timezone.utc))
    assert "PROC-002" in [f.rule_id for f in res.findings]
