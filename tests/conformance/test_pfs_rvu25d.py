"""Medicare PFS importer and pricing against CMS's RVU25D bundle (CY2025 October release) in
../shared/data/pfs/rvu25d (read-only, never copied into the repo). Skips with a reason when
the folder is absent.

The hand-computed prices below write out the file's own rows and GPCIs:
    amount = round_half_up([(work RVU x work GPCI) + (PE RVU x PE GPCI) + (MP RVU x MP GPCI)] x CF, 0.01)
with CF = 32.3465 (every PPRRVU row of RVU25D) and these GPCI2025 rows:
    AL-00 ALABAMA      work 1.000  PE 0.869  MP 0.575
    CA-18 LOS ANGELES  work 1.042  PE 1.194  MP 0.690
    NY-01 MANHATTAN    work 1.065  PE 1.166  MP 1.656
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimflow.reimbursement import pfs
from claimflow.reimbursement.pricing import LineInput, Setting, price_line, price_lines

pytestmark = pytest.mark.conformance

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RVU = SHARED / "pfs" / "rvu25d"
D = Decimal
CF = D("32.3465")
AL, CA, NY = (D("1.000"), D("0.869"), D("0.575")), (D("1.042"), D("1.194"), D("0.690")), (D("1.065"), D("1.166"), D("1.656"))


def cents(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def by_hand(work: str, pe: str, mp: str, gpci: tuple[Decimal, Decimal, Decimal]) -> Decimal:
    return cents((D(work) * gpci[0] + D(pe) * gpci[1] + D(mp) * gpci[2]) * CF)


@pytest.fixture(scope="module")
def fs_txt() -> pfs.FeeSchedule:
    """The bundle imported from its TXT forms (import_pfs also parses the PPRRVU CSV and
    fails when the two disagree)."""
    if not RVU.is_dir():
        pytest.skip(f"CMS RVU25D bundle not present at {RVU} (conformance data sits beside the repo)")
    return pfs.import_pfs(RVU, prefer="txt")


@pytest.fixture(scope="module")
def csv_rows(fs_txt) -> list[pfs.RvuRow]:
    return list(pfs.parse_pprrvu_csv((RVU / "PPRRVU2025_Oct.csv").read_text(encoding="latin-1").splitlines()))


def test_row_counts_of_each_file(fs_txt, csv_rows):
    assert len(fs_txt) == 19090  # PPRRVU2025_Oct.txt: 19,097 lines - 7 HDR lines
    assert len(csv_rows) == 19090  # PPRRVU2025_Oct.csv: 19,100 lines - 10 header lines
    assert len(fs_txt.gpcis) == 109  # Addendum E: 109 Medicare localities
    assert len(fs_txt.areas) == 110  # 25LOCCO: 110 locality/area rows (one locality may span two areas)
    txt_areas = list(pfs.parse_locco_txt((RVU / "25LOCCO.txt").read_text(encoding="latin-1").splitlines()))
    assert len(txt_areas) == 110
    # the TXT form truncates long county lists; the MAC/locality pairs agree between the forms
    assert sorted((a.mac, a.locality) for a in txt_areas) == sorted((a.mac, a.locality) for a in fs_txt.areas)
    assert fs_txt.info.version == "RVU25D" and fs_txt.info.year == 2025 and fs_txt.info.conversion_factor == CF


def test_txt_and_csv_give_identical_normalized_data(fs_txt, csv_rows):
    from_csv = pfs.FeeSchedule(fs_txt.info, csv_rows, fs_txt.gpcis.values())
    assert pfs.normalized_bytes(fs_txt) == pfs.normalized_bytes(from_csv)
    assert list(csv_rows) == list(fs_txt.rows.values())
    gpci_csv = list(pfs.parse_gpci_csv((RVU / "GPCI2025.csv").read_text().splitlines()))
    assert gpci_csv == list(fs_txt.gpcis.values())


def test_known_rows(fs_txt):
    r = fs_txt.row("27447")
    assert (r.status, r.work_rvu, r.nonfac_pe_rvu, r.nonfac_na, r.fac_pe_rvu, r.mp_rvu) == ("A", D("19.60"), D("15.30"), True, D("15.30"), D("3.98"))
    assert (r.pctc, r.global_days, r.mult_proc, r.bilateral, r.assistant, r.co_surgeon, r.team_surgery) == ("0", "090", "2", "1", "2", "1", "0")
    assert (r.pre_op, r.intra_op, r.post_op) == (D("0.10"), D("0.69"), D("0.21"))
    tc = fs_txt.row("71046", "TC")
    assert (tc.status, tc.work_rvu, tc.fac_pe_rvu, tc.fac_na, tc.pctc, tc.supervision, tc.opps_nonfac_pe) == ("A", D("0.00"), D("0.69"), True, "1", "01", D("2.68"))
    assert fs_txt.row("71046", "26").work_rvu == D("0.22")
    assert fs_txt.row("G0008").status == "X"
    assert fs_txt.row("93000").mult_proc == "6" and fs_txt.row("93000").pctc == "4"
    nu = fs_txt.row("22526")
    assert nu.status == "N" and nu.not_used_for_medicare and nu.work_rvu == D("5.85")
    assert fs_txt.row("99213").nonfac_total == D("2.75") and fs_txt.row("99213").fac_total == D("1.97")
    assert fs_txt.gpci("AK-01").work == D("1.500")  # the Alaska 1.5 work floor
    assert sum(1 for r in fs_txt.rows.values() if r.status == "A") == 9021
    assert sum(1 for r in fs_txt.rows.values() if r.modifier == "26") == 1127


HAND_PRICES = [
    # (code, modifiers, locality, setting, units, expected, the arithmetic)
    ("99213", (), "AL-00", "nonfacility", 1, D("81.86"), by_hand("1.30", "1.35", "0.10", AL)),   # 2.53065 x CF = 81.8577
    ("99213", (), "AL-00", "facility", 1, D("59.93"), by_hand("1.30", "0.57", "0.10", AL)),      # 1.85283 x CF = 59.9326
    ("99214", (), "CA-18", "nonfacility", 1, D("137.58"), by_hand("1.92", "1.80", "0.15", CA)),  # 4.25334 x CF = 137.5807
    ("99214", (), "NY-01", "facility", 1, D("105.48"), by_hand("1.92", "0.83", "0.15", NY)),     # 3.26098 x CF = 105.4813
    ("71046", ("26",), "NY-01", "facility", 1, D("11.13"), by_hand("0.22", "0.08", "0.01", NY)),  # the 71046-26 row
    ("71046", ("TC",), "CA-18", "nonfacility", 1, D("26.87"), by_hand("0.00", "0.69", "0.01", CA)),  # the 71046-TC row
    ("71046", (), "AL-00", "nonfacility", 1, D("29.13"), by_hand("0.22", "0.77", "0.02", AL)),   # global row
    # bilateral indicator 1: 150% of 1340.36 (27447, CA-18 facility: 41.4376 x CF)
    ("27447", ("50",), "CA-18", "facility", 1, D("2010.54"), cents(by_hand("19.60", "15.30", "3.98", CA) * D("1.5"))),
    # assistant at surgery (indicator 2): 16% of 1465.45 (NY-01 facility: 45.30468 x CF)
    ("27447", ("80",), "NY-01", "facility", 1, D("234.47"), cents(by_hand("19.60", "15.30", "3.98", NY) * D("0.16"))),
    # nonphysician assistant: 85% of 16% of 1138.09 (AL-00 facility) = 182.09 x 0.85
    ("27447", ("AS",), "AL-00", "facility", 1, D("154.78"), cents(cents(by_hand("19.60", "15.30", "3.98", AL) * D("0.16")) * D("0.85"))),
    # co-surgeon (47562 indicator 1): 62.5% of 680.56 (21.03972 x CF)
    ("47562", ("62",), "CA-18", "facility", 1, D("425.35"), cents(by_hand("10.47", "6.97", "2.62", CA) * D("0.625"))),
    # units multiply: 2 x 101.06 (3.1242 x CF)
    ("99213", (), "NY-01", "nonfacility", 2, D("202.12"), by_hand("1.30", "1.35", "0.10", NY) * 2),
]


@pytest.mark.parametrize("code,mods,loc,setting,units,expected,arithmetic", HAND_PRICES,
                         ids=[f"{c}{''.join('-' + m for m in ms)}-{l}-{s}-x{u}" for c, ms, l, s, u, *_ in HAND_PRICES])
def test_hand_computed_prices(fs_txt, code, mods, loc, setting, units, expected, arithmetic):
    assert arithmetic == expected
    p = price_line(fs_txt, code, mods, locality=loc, setting=setting, units=units, dos=date(2025, 6, 2))
    assert p.amount == expected, p
    assert p.dataset_version == "RVU25D" and p.conversion_factor == CF


def test_multiple_procedure_reduction_on_the_file(fs_txt):
    # 27447 (1138.09) and 20610 (AL-00 facility: 1.24711 x CF = 40.34), both indicator 2:
    # highest at 100%, the other at 50% = 20.17, whatever the line order
    lines = [LineInput(1, "20610"), LineInput(2, "27447")]
    prices = price_lines(fs_txt, lines, locality="AL-00", setting=Setting.FACILITY)
    assert prices[2].amount == by_hand("19.60", "15.30", "3.98", AL) == D("1138.09")
    assert prices[1].amount == cents(by_hand("0.79", "0.44", "0.13", AL) * D("0.5")) == D("20.17")


@pytest.mark.parametrize("code,mods,why", [
    ("G0008", (), "status X"), ("36415", (), "status X"), ("0591T", (), "status C"),
    ("D0120", (), "contractor priced"), ("11042", ("62",), "co-surgeons not permitted"),
    ("11042", ("80",), "may not be paid"), ("93010", ("26",), "PC/TC indicator 2"),
])
def test_unpriced_on_the_file(fs_txt, code, mods, why):
    p = price_line(fs_txt, code, mods, locality="NY-01", setting="facility")
    assert p.amount is None and why in p.unpriced_reason


def test_normalized_round_trip(fs_txt, tmp_path):
    out = pfs.write_pfs(fs_txt, tmp_path)
    loaded = pfs.load_pfs(tmp_path)
    assert out.name == "RVU25D" and loaded.rows == fs_txt.rows and loaded.gpcis == fs_txt.gpcis and loaded.areas == fs_txt.areas
    assert loaded.info.conversion_factor == CF and set(loaded.info.sources) == {"PPRRVU2025_Oct.txt", "PPRRVU2025_Oct.csv", "GPCI2025.txt", "25LOCCO.csv"}


def test_cli_imports_and_prices(fs_txt, tmp_path):
    from claimflow_app.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["refdata", "import", "pfs", str(RVU), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "19090 rows, version RVU25D" in r.output
    loaded = pfs.load_pfs(tmp_path)
    assert len(loaded) == 19090 and loaded.info.sources["PPRRVU2025_Oct.txt"]
    r = runner.invoke(main, ["price", "27447", "--modifier", "50", "--locality", "CA-18", "--setting", "facility", "--pfs", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "Medicare allowed: 2010.54" in r.output and "bilateral-150" in r.output and "RVU25D" in r.output
    assert "[(19.60 x 1.042) + (15.30 x 1.194) + (3.98 x 0.690)] x 32.3465 = 1340.36" in r.output
    r = runner.invoke(main, ["price", "G0008", "--locality", "AL-00", "--setting", "facility", "--pfs", str(tmp_path)])
    assert r.exit_code == 0 and "NOT PRICED: status X: statutory exclusion" in r.output
