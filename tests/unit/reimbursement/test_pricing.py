"""PFS pricing rules on a synthetic fee schedule (GPCIs of 1.000 at ZZ-01, CF 30): every
modifier rule, multiple-procedure ordering, unpriced statuses, conversion factors, rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from claimflow.reimbursement.pricing import (
    ConversionFactorChoice, LineInput, Setting, cents, price_line, price_lines, setting_for_pos,
)
from tests.unit.reimbursement.pfs_factory import default_schedule

D = Decimal
FS = default_schedule()


def amount(code, mods=(), setting="facility", locality="ZZ-01", units=1, **kw):
    return price_line(FS, code, mods, locality=locality, setting=setting, units=units, **kw).amount


def test_formula_and_settings():
    assert amount("VIS01", setting="nonfacility") == D("63.00")  # (1.00 + 1.00 + 0.10) x 30
    assert amount("VIS01", setting="facility") == D("48.00")  # (1.00 + 0.50 + 0.10) x 30
    # ZZ-02: (1.00 x 1.1) + (1.00 x 0.9) + (0.10 x 0.5) = 2.05 x 30
    assert amount("VIS01", setting="nonfacility", locality="ZZ-02") == D("61.50")
    p = price_line(FS, "VIS01", locality="zz-02", setting=Setting.NONFACILITY)
    assert p.formula == "[(1.00 x 1.100) + (1.00 x 0.900) + (0.10 x 0.500)] x 30.0000"
    assert p.inputs()["version"] == "RVUTEST" and p.inputs()["pe_rvu"] == "1.00"


def test_place_of_service_picks_the_pe():
    assert setting_for_pos("11") is Setting.NONFACILITY and setting_for_pos("22") is Setting.FACILITY
    assert setting_for_pos("21") is Setting.FACILITY and setting_for_pos("12") is Setting.NONFACILITY


def test_na_pe_is_priced_with_a_note():
    p = price_line(FS, "FAC01", locality="ZZ-01", setting="nonfacility")
    assert p.amount == D("63.00") and any("NA" in n for n in p.notes)


def test_units_multiply():
    assert amount("VIS01", setting="nonfacility", units=3) == D("189.00")


def test_rounding_half_up_to_the_cent():
    assert cents(D("0.085")) == D("0.09") and cents(D("2.675")) == D("2.68") and cents(D("2.6749")) == D("2.67")


def test_professional_and_technical_components():
    assert amount("IMG01", setting="nonfacility") == D("63.00")
    assert amount("IMG01", ("26",), setting="nonfacility") == D("39.00")  # (1.00 + 0.20 + 0.10) x 30
    assert amount("IMG01", ("TC",), setting="nonfacility") == D("27.00")  # (0.00 + 0.80 + 0.10) x 30
    p = price_line(FS, "PRO01", ("26",), locality="ZZ-01", setting="facility")
    assert p.amount is None and "PC/TC indicator 2" in p.unpriced_reason
    assert price_line(FS, "VIS01", ("TC",), locality="ZZ-01", setting="facility").amount is None


def test_bilateral_by_indicator():
    assert amount("SURG1", ("50",)) == D("810.00")  # indicator 1: 150% of 540.00
    assert amount("SURG3", ("50",)) == D("96.00")  # indicator 3: 100% each side
    assert amount("SURG4", ("50",)) == D("48.00")  # indicator 2: already bilateral, 100%
    assert amount("VIS01", ("50",)) == D("48.00")  # indicator 0: 100% of a single code
    p = price_line(FS, "INJ01", ("50",), locality="ZZ-01", setting="facility")
    assert p.amount is not None  # INJ01 has indicator 0 too
    nine = price_line(FS, "EXCL1", ("50",), locality="ZZ-01", setting="facility")
    assert nine.amount is None


def test_assistant_at_surgery():
    assert amount("SURG1", ("80",)) == D("86.40")  # 16% of 540.00
    assert amount("SURG1", ("82",)) == D("86.40")
    assert amount("SURG1", ("AS",)) == D("73.44")  # 85% of 86.40
    p = price_line(FS, "SURG2", ("80",), locality="ZZ-01", setting="facility")
    assert p.amount == D("15.36") and any("documentation" in n for n in p.notes)  # indicator 0
    assert "may not be paid" in price_line(FS, "SURG3", ("80",), locality="ZZ-01", setting="facility").unpriced_reason
    assert "does not apply" in price_line(FS, "SURG4", ("80",), locality="ZZ-01", setting="facility").unpriced_reason


def test_co_surgeon():
    assert amount("SURG1", ("62",)) == D("337.50")  # 62.5% of 540.00
    p = price_line(FS, "SURG2", ("62",), locality="ZZ-01", setting="facility")
    assert p.amount == D("60.00") and any("documentation" in n for n in p.notes)
    assert "not permitted" in price_line(FS, "SURG3", ("62",), locality="ZZ-01", setting="facility").unpriced_reason


def test_bilateral_then_assistant_order():
    assert amount("SURG1", ("50", "80")) == D("129.60")  # 540 x 1.5 = 810.00, x 16%


@pytest.mark.parametrize("order", [(1, 2, 3), (3, 2, 1), (2, 3, 1)])
def test_multiple_procedures_ranked_by_amount(order):
    codes = {1: "SURG1", 2: "SURG2", 3: "SURG3"}
    prices = price_lines(FS, [LineInput(n, codes[n]) for n in order], locality="ZZ-01", setting="facility")
    assert prices[1].amount == D("540.00")  # highest: 100%
    assert prices[2].amount == D("48.00")  # 96.00 at 50%
    assert prices[3].amount == D("24.00")  # 48.00 at 50%
    assert prices[2].adjustments[-1].rule == "multiple-procedure"


def test_bilateral_applies_before_ranking():
    prices = price_lines(FS, [LineInput(1, "SURG2"), LineInput(2, "SURG1", ("50",))], locality="ZZ-01", setting="facility")
    assert prices[2].amount == D("810.00") and prices[1].amount == D("48.00")


def test_units_count_as_procedures_and_indicator_one_table():
    prices = price_lines(FS, [LineInput(1, "SURG2", units=3), LineInput(2, "SURG1")], locality="ZZ-01", setting="facility")
    assert prices[2].amount == D("540.00") and prices[1].amount == D("144.00")  # 3 x 48.00
    prices = price_lines(FS, [LineInput(1, "SURG1"), LineInput(2, "SURG2"), LineInput(3, "SURG4")], locality="ZZ-01", setting="facility")
    assert prices[3].amount == D("12.00")  # indicator 1, third rank: 25% of 48.00


def test_visits_are_not_reduced_and_single_procedure_is_full():
    prices = price_lines(FS, [LineInput(1, "VIS01"), LineInput(2, "SURG2")], locality="ZZ-01", setting="facility")
    assert prices[1].amount == D("48.00") and prices[2].amount == D("96.00")


def test_lower_of_charge():
    prices = price_lines(FS, [LineInput(1, "VIS01", charge=D("40.00"))], locality="ZZ-01", setting="facility")
    assert prices[1].amount == D("40.00")


@pytest.mark.parametrize("code,fragment", [
    ("EXCL1", "status X: statutory exclusion: not paid under the PFS"),
    ("CONT1", "status C: contractor priced"),
    ("REST1", "contractor priced"),
    ("NOPE1", "not in RVUTEST"),
])
def test_unpriced_statuses_say_why(code, fragment):
    p = price_line(FS, code, locality="ZZ-01", setting="facility")
    assert p.amount is None and fragment in p.unpriced_reason


def test_injection_status_t_is_priced():
    assert amount("INJ01", setting="nonfacility") == D("11.40")  # (0.17 + 0.20 + 0.01) x 30


def test_unknown_locality_is_unpriced():
    assert "not in the RVUTEST GPCI file" in price_line(FS, "VIS01", locality="QQ-99", setting="facility").unpriced_reason


def test_conversion_factor_by_year():
    p = price_line(FS, "VIS01", locality="ZZ-01", setting="facility", dos=date(2025, 3, 1))
    assert p.conversion_factor == D("30.0000") and "RVUTEST file" in p.conversion_factor_source
    p = price_line(FS, "VIS01", locality="ZZ-01", setting="facility", dos=date(2026, 3, 1))
    assert p.conversion_factor == D("33.4009") and p.amount == cents(D("1.60") * D("33.4009"))
    qp = ConversionFactorChoice(qualifying_apm=True)
    assert price_line(FS, "VIS01", locality="ZZ-01", setting="facility", dos=date(2026, 3, 1), cf=qp).conversion_factor == D("33.5675")
    own = ConversionFactorChoice({2026: D("33.0000")})
    assert price_line(FS, "VIS01", locality="ZZ-01", setting="facility", dos=date(2026, 3, 1), cf=own).amount == D("52.80")
    assert price_line(FS, "VIS01", locality="ZZ-01", setting="facility", dos=date(2027, 3, 1)).amount is None
