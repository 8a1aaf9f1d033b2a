"""Payer contracts: percent of Medicare by year and locality, rate tables, carve-outs,
tolerance, and "no contract" meaning no expectation (never $0)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claimflow.reimbursement.contracts import (
    ContractError, LineInput, Pricer, Tolerance, load_contract_book, load_rate_table, parse_contract_book,
)
from tests.unit.reimbursement.pfs_factory import default_schedule

D = Decimal
RAW = {"reimbursement": {"version": "t1", "practices": {"1234567893": {"locality": "ZZ-01"}}, "contracts": {
    "PCT": {"basis": "medicare_pfs", "percent_of_medicare": [{"percent": 110}, {"year": 2025, "percent": 120},
                                                             {"year": 2025, "locality": "ZZ-02", "percent": 130},
                                                             {"locality": "ZZ-02", "percent": 125}],
            "carve_outs": {"SURG2": {"rate": "70.00"}, "IMG01": {"percent": 200}, "INJ01": {"exclude": True}},
            "tolerance": {"amount": "1.00", "percent": "1"}},
    "MED": {"basis": "medicare_pfs", "tolerance": {"amount": "0.01"}},
    "TAB": {"basis": "rate_table", "rate_table": "rates.csv", "tolerance": {"amount": "2.00"}},
}}}


@pytest.fixture
def pricer(tmp_path: Path) -> Pricer:
    (tmp_path / "rates.csv").write_text("code,modifier,locality,year,rate\nVIS01,,*,*,50.00\nVIS01,,ZZ-02,*,55.00\n"
                                        "VIS01,25,*,*,52.00\nSURG1,,*,2026,400.00\nSURG1,,*,*,380.00\n")
    return Pricer(parse_contract_book(RAW, tmp_path), default_schedule())


def one(pricer, payer, code, mods=(), units=1, locality="ZZ-01", pos="22", dos=date(2025, 5, 1), charge=None):
    return pricer.expectations(payer, [LineInput(1, code, mods, units, charge)], locality=locality, place_of_service=pos, dos=dos)[1]


def test_percent_of_medicare_most_specific_term_wins(pricer):
    assert one(pricer, "PCT", "VIS01").amount == D("57.60")  # CY2025 any locality: 120% of 48.00
    assert one(pricer, "PCT", "VIS01", locality="ZZ-02").contract_term.startswith("PCT 130% of Medicare, CY2025, ZZ-02")
    e26 = one(pricer, "PCT", "VIS01", dos=date(2026, 2, 1))  # CY2026: 110% of (1.60 x 33.4009 = 53.44)
    assert e26.amount == D("58.78") and e26.inputs["percent_of_medicare"] == "110"
    e = one(pricer, "MED", "VIS01", pos="11")  # 100% of the non-facility amount
    assert e.amount == D("63.00") and e.basis == "medicare_pfs" and e.dataset_version == "RVUTEST" and e.setting == "nonfacility"
    assert e.inputs["work_gpci"] == "1.000" and "x 30.0000" in e.formula


def test_carve_outs(pricer):
    e = one(pricer, "PCT", "SURG2", units=2)
    assert e.amount == D("140.00") and e.basis == "carve_out"  # fixed $70 per unit
    assert one(pricer, "PCT", "IMG01").amount == D("96.00")  # 200% of the facility 48.00
    ex = one(pricer, "PCT", "INJ01")
    assert ex.amount is None and "carved out" in ex.not_computed_reason


def test_rate_table(pricer):
    assert one(pricer, "TAB", "VIS01").amount == D("50.00")
    assert one(pricer, "TAB", "VIS01", locality="ZZ-02").amount == D("55.00")  # locality row beats *
    assert one(pricer, "TAB", "VIS01", ("25",)).amount == D("52.00")  # modifier row
    assert one(pricer, "TAB", "SURG1", dos=date(2026, 1, 5)).amount == D("400.00")  # year row
    assert one(pricer, "TAB", "SURG1").amount == D("380.00")
    assert one(pricer, "TAB", "VIS01", units=2, charge=D("90.00")).amount == D("90.00")  # never above the charge
    miss = one(pricer, "TAB", "SURG3")
    assert miss.amount is None and "not in the TAB rate table" in miss.not_computed_reason


def test_unknown_payer_and_missing_locality_give_no_expectation(pricer):
    e = one(pricer, "NOBODY", "VIS01")
    assert e.amount is None and e.basis == "none" and "no contract" in e.not_computed_reason
    assert one(pricer, "PCT", "VIS01", locality=None).amount is None
    assert one(pricer, "PCT", "EXCL1").not_computed_reason.startswith("status X")


def test_without_a_fee_schedule_only_rate_tables_price(tmp_path):
    (tmp_path / "rates.csv").write_text("code,modifier,locality,year,rate\nVIS01,,*,*,50.00\n")
    p = Pricer(parse_contract_book(RAW, tmp_path), None)
    assert one(p, "TAB", "VIS01").amount == D("50.00")
    assert "no Medicare PFS release loaded" in one(p, "MED", "VIS01").not_computed_reason


@pytest.mark.parametrize("expected,tol", [(D("50.00"), D("1.00")), (D("100.00"), D("1.00")), (D("100.01"), D("1.00")),
                                          (D("150.00"), D("1.50")), (D("333.33"), D("3.33"))])
def test_tolerance_is_the_larger_of_dollars_and_percent(expected, tol):
    assert Tolerance(D("1.00"), D("1")).for_expected(expected) == tol


def test_tolerance_travels_with_the_expectation(pricer):
    assert one(pricer, "PCT", "SURG1").tolerance_amount == D("6.48")  # 1% of 648.00 (120% of 540.00)
    assert one(pricer, "MED", "VIS01").tolerance_amount == D("0.01")


def test_bad_contract_and_rate_table_are_clear_errors(tmp_path):
    with pytest.raises(ContractError, match="basis"):
        parse_contract_book({"reimbursement": {"contracts": {"X": {"basis": "vibes"}}}}, tmp_path)
    (tmp_path / "bad.csv").write_text("code,rate\nVIS01,abc\n")
    with pytest.raises(ContractError, match="not a number"):
        load_rate_table(tmp_path / "bad.csv")
    (tmp_path / "nocol.csv").write_text("code,price\nVIS01,1\n")
    with pytest.raises(ContractError, match="rate"):
        load_rate_table(tmp_path / "nocol.csv")


def test_bundled_payers_yaml_loads():
    book = load_contract_book()
    assert set(book.contracts) >= {"MCR01", "MCD17", "BCX22", "AET45"}
    assert book.locality_for("1234567893") == "TX-31" and book.locality_for("0000000000") is None
    assert book.contracts["AET45"].rate_table.rate("99213", (), "TX-31", 2025).rate == D("99.50")
