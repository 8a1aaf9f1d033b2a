"""Importers and tables on small files written by the tests (no shared data needed)."""

from datetime import date

import pytest
from click.testing import CliRunner

from services.scrubber import refdata as rd
from services.scrubber.refdata_cli import refdata as refdata_cli

PTP_TEXT = (
    "CPT only copyright notice (test)\t\t\t\t\t\t\n"
    "Column1/Column2 Edits\t\t\t\t\t\t\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\n"
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\n"
    "\t\t\t\t*=no data\t1=allowed\t\n"
    "\t\t\t\t\t9=not applicable\t\n"
    "11102\t99213\t\t20190101\t*\t1\tTest rationale\n"
    "93000\t93010\t*\t19960101\t*\t0\tTest rationale\n"
    "11102\t17110\t\t20190101\t20201231\t9\tOther rationale\n"
)
MUE_TEXT = (
    '"copyright notice (test)\n\nsecond paragraph",,,\n'
    '"HCPCS/\nCPT Code",Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n'
    "36415,2,3 Date of Service Edit: Clinical,Nature of Service/Procedure\n"
    "99213,1,2 Date of Service Edit: Policy,Code Descriptor / CPT Instruction\n"
    "11103,6,1 Line Edit,Clinical Data\n"
)


def test_ptp_import_write_load_roundtrip(tmp_path):
    src = tmp_path / "ccipra-v999r1-f1.txt"
    src.write_text(PTP_TEXT)
    t = rd.import_ptp(src)
    assert len(t) == 3 and t.info.version == "v999r1"
    out = tmp_path / "out"
    rd.write_ptp(t, out)
    back = rd.load_ptp(out / "ptp.csv", rd.read_manifest(out)["ptp"])
    assert sorted(back.iter_rows()) == sorted(t.iter_rows()) and back.info.version == "v999r1"
    assert back.active("93000", "93010", date(2026, 1, 1)).modifier_indicator == 0


def test_ptp_import_from_zip(tmp_path):
    import zipfile
    z = tmp_path / "ptp.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ccipra-v999r1-f1.txt", PTP_TEXT)
        zf.writestr("ccipra-v999r1-f2.txt", PTP_TEXT.replace("11102\t99213", "11104\t99213"))
    t = rd.import_ptp(z)
    assert len(t) == 6 and t.info.version == "v999r1"


def test_ptp_rejects_bad_modifier_indicator(tmp_path):
    src = tmp_path / "p.txt"
    src.write_text(PTP_TEXT.replace("\t1\tTest", "\t5\tTest"))
    with pytest.raises(rd.RefDataError, match="modifier indicator"):
        rd.import_ptp(src)


def test_mue_import(tmp_path):
    src = tmp_path / "MCR_MUE_PractitionerServices_Eff_01-01-2027.csv"
    src.write_text(MUE_TEXT)
    t = rd.import_mue(src)
    assert t.info.version == "2027-01-01" and len(t) == 3
    assert (t.get("11103").value, t.get("11103").mai) == (6, 1)


def test_mue_versions_are_effective_dated():
    info = rd.DatasetInfo("t", "1")
    t = rd.MueTable.build([("36415", 2, 3, "a", date(2025, 1, 1).toordinal()), ("36415", 3, 3, "b", date(2026, 1, 1).toordinal())], info)
    assert t.get("36415", date(2025, 12, 31)).value == 2
    assert t.get("36415", date(2026, 1, 1)).value == 3
    assert t.get("36415", date(2020, 1, 1)).value == 2  # before any version: the oldest


def test_mue_rejects_file_without_header(tmp_path):
    src = tmp_path / "m.csv"
    src.write_text("36415,2,3 x,y\n")
    with pytest.raises(rd.RefDataError):
        rd.import_mue(src)


def test_mce_import_and_fy_selection(tmp_path):
    src = tmp_path / "MCE_Simple_Code_Edits_v40.txt"
    src.write_text("MCE_Version\tICD_Version\tMCE_Section\tMCE_Subsection\tMCE_Edit_Type\tICD_Code_Type\tICD_Code\tICD_Desc\n"
                   "40\t10\t5\tC\tMale_Only\tD\tN400\tsome words\n")
    t = rd.import_mce(src)
    assert list(t.versions) == [2023] and t.for_dos(date(2022, 10, 1)).dx_edits["N400"] == ("Male_Only",)


def test_icd10cm_order_file(tmp_path):
    src = tmp_path / "icd10cm_order_2025.txt"
    src.write_text("00001 A00     0 Cholera short                                                 Cholera long\n"
                   "00002 A000    1 Cholera classical                                             Cholera classical long\n")
    cs = rd.import_icd10cm_order(src, 2025)
    assert cs.exists("A00") and not cs.is_billable("A00") and cs.is_billable("A00.0")
    rd.write_icd10cm(cs, tmp_path / "out", 2025)
    assert rd.load_icd10cm_dir(tmp_path / "out")[2025].is_billable("A000")


def test_payer_rules_and_month_arithmetic():
    rules = rd.load_payers(rd.STARTER_DIR / "payers.yaml")
    assert set(rules.payers) == {"MCR01", "MCD17", "BCX22", "AET45"}
    mcr = rules.for_payer("MCR01")
    assert mcr.filing_deadline(date(2024, 2, 29)) == date(2025, 2, 28)
    assert mcr.filing_deadline(date(2025, 6, 15)) == date(2026, 6, 15)
    assert rules.for_payer("UNKNOWN").payer_id == "*"
    assert "XE" in rules.for_payer("MCD17").modifiers_not_accepted


def test_starter_sets_load_and_are_labelled():
    data = rd.load_refdata()
    assert all(v == "starter" for v in data.sources.values())
    assert data.ptp.info.is_starter and data.ptp.active("11102", "99213", date(2026, 1, 1)) is not None
    assert data.mue.get("99213").mai == 2 and data.addon.is_addon("11103")
    assert "95" in data.modifiers and "02" in data.pos.telehealth and "10" in data.pos.telehealth
    readme = (rd.STARTER_DIR / "README.md").read_text()
    assert "STARTER" in readme and "not" in readme


def test_cli_import_and_show(tmp_path):
    src = tmp_path / "ccipra-v999r1-f1.txt"
    src.write_text(PTP_TEXT)
    runner = CliRunner()
    res = runner.invoke(refdata_cli, ["import", "ptp", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0 and "3 rows" in res.output
    assert "v999r1" in runner.invoke(refdata_cli, ["show", str(tmp_path / "o")]).output
    bad = tmp_path / "bad.txt"
    bad.write_text(PTP_TEXT.replace("\t1\tTest", "\t5\tTest"))
    res = runner.invoke(refdata_cli, ["import", "ptp", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "modifier indicator" in res.output
    res = runner.invoke(refdata_cli, ["import", "mue", "--out", str(tmp_path / "o")])
    assert res.exit_code != 0


def test_scrub_reference_loads_imported_dir(tmp_path):
    src = tmp_path / "ccipra-v999r1-f1.txt"
    src.write_text(PTP_TEXT)
    rd.write_ptp(rd.import_ptp(src), tmp_path / "o")
    from services.scrubber.logic import ScrubReference
    ref = ScrubReference.load(tmp_path / "o")
    assert ref.data.sources["ptp"] == "imported" and ref.data.sources["mue"] == "starter"
    assert ref.data.ptp.info.version == "v999r1" and len(ref.data.ptp) == 3
