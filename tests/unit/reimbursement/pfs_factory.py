"""A tiny synthetic fee schedule (made-up codes and RVUs, not CMS data) for unit tests."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal

from claimflow.reimbursement.pfs import FeeSchedule, Gpci, PfsInfo, RvuRow

D = Decimal
BASE = dict(modifier="", status="A", not_used_for_medicare=False, work_rvu=D("1.00"), nonfac_pe_rvu=D("1.00"), nonfac_na=False,
            fac_pe_rvu=D("0.50"), fac_na=False, mp_rvu=D("0.10"), nonfac_total=D("2.10"), fac_total=D("1.60"), pctc="0",
            global_days="XXX", pre_op=D("0"), intra_op=D("0"), post_op=D("0"), mult_proc="0", bilateral="0", assistant="0",
            co_surgeon="0", team_surgery="0", endo_base="", conversion_factor=D("30.0000"), supervision="09",
            calculation_flag="0", imaging_family="99", opps_nonfac_pe=D("0"), opps_fac_pe=D("0"), opps_mp=D("0"))


def row(code: str, **kw) -> RvuRow:
    return RvuRow(hcpcs=code, **{**BASE, **kw})


def schedule(*rows: RvuRow, year: int = 2025) -> FeeSchedule:
    gpcis = [Gpci("00001", "ZZ", "01", "TEST ONE", D("1.000"), D("1.000"), D("1.000")),
             Gpci("00002", "ZZ", "02", "TEST TWO", D("1.100"), D("0.900"), D("0.500"))]
    return FeeSchedule(PfsInfo("test schedule", "RVUTEST", year, D("30.0000")), rows, gpcis)


def default_schedule() -> FeeSchedule:
    """Codes named after what they exercise (all synthetic):
    VIS01 office visit (ind. 0); SURG1 surgery (MPPR 2, bilateral 1, assistant 2, co-surgeon 2);
    SURG2 cheaper surgery (MPPR 2, assistant 0, co-surgeon 1); SURG3 (bilateral 3, assistant 1,
    co-surgeon 0); SURG4 (bilateral 2, assistant 9); IMG01 test with 26/TC rows (PCTC 1);
    PRO01 professional-only code (PCTC 2); EXCL1 status X; CONT1 status C; INJ01 status T;
    REST1 status R without RVUs; FAC01 with NA non-facility PE."""
    return schedule(
        row("VIS01"),
        row("SURG1", work_rvu=D("10.00"), nonfac_pe_rvu=D("8.00"), fac_pe_rvu=D("6.00"), mp_rvu=D("2.00"), mult_proc="2",
            bilateral="1", assistant="2", co_surgeon="2", global_days="090"),
        row("SURG2", work_rvu=D("2.00"), fac_pe_rvu=D("1.00"), mp_rvu=D("0.20"), mult_proc="2", assistant="0", co_surgeon="1"),
        row("SURG3", mult_proc="2", bilateral="3", assistant="1", co_surgeon="0"),
        row("SURG4", mult_proc="1", bilateral="2", assistant="9", co_surgeon="9"),
        row("IMG01", pctc="1"), row("IMG01", modifier="26", pctc="1", nonfac_pe_rvu=D("0.20"), fac_pe_rvu=D("0.20")),
        row("IMG01", modifier="TC", pctc="1", work_rvu=D("0.00"), nonfac_pe_rvu=D("0.80"), fac_pe_rvu=D("0.80")),
        row("PRO01", pctc="2"),
        row("EXCL1", status="X", work_rvu=D("0"), nonfac_pe_rvu=D("0"), fac_pe_rvu=D("0"), mp_rvu=D("0")),
        row("CONT1", status="C", work_rvu=D("0"), nonfac_pe_rvu=D("0"), fac_pe_rvu=D("0"), mp_rvu=D("0")),
        row("INJ01", status="T", work_rvu=D("0.17"), nonfac_pe_rvu=D("0.20"), mp_rvu=D("0.01")),
        row("REST1", status="R", work_rvu=D("0"), nonfac_pe_rvu=D("0"), fac_pe_rvu=D("0"), mp_rvu=D("0")),
        row("FAC01", nonfac_na=True),
    )
