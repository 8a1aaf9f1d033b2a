"""E/M level selection: time thresholds at the exact boundaries, MDM, higher wins, preventive bands."""

from datetime import date

import pytest

from claimflow.models import MdmLevel, PatientStatus
from services.coder import em

EST, NEW = PatientStatus.ESTABLISHED, PatientStatus.NEW


@pytest.mark.parametrize("minutes,code", [
    (9, None), (10, "99212"), (19, "99212"), (20, "99213"), (29, "99213"), (30, "99214"), (39, "99214"), (40, "99215"), (300, "99215"),
])
def test_established_time_boundaries(minutes, code):
    assert em.time_code(EST, minutes) == code
    assert em.select_office_level(EST, minutes, None).code == code


@pytest.mark.parametrize("minutes,code", [
    (14, None), (15, "99202"), (29, "99202"), (30, "99203"), (44, "99203"), (45, "99204"), (59, "99204"), (60, "99205"),
])
def test_new_time_boundaries(minutes, code):
    assert em.select_office_level(NEW, minutes, None).code == code


@pytest.mark.parametrize("mdm,new,est", [
    (MdmLevel.STRAIGHTFORWARD, "99202", "99212"), (MdmLevel.LOW, "99203", "99213"),
    (MdmLevel.MODERATE, "99204", "99214"), (MdmLevel.HIGH, "99205", "99215"),
])
def test_mdm_levels(mdm, new, est):
    assert em.select_office_level(NEW, None, mdm).code == new
    d = em.select_office_level(EST, None, mdm)
    assert d.code == est and d.rule_id == "EM-MDM-001"


def test_higher_of_time_and_mdm_wins_with_reason():
    d = em.select_office_level(EST, 25, MdmLevel.MODERATE)
    assert (d.code, d.rule_id) == ("99214", "EM-MDM-001")
    d = em.select_office_level(EST, 45, MdmLevel.LOW)
    assert (d.code, d.rule_id) == ("99215", "EM-TIME-001")
    assert "45" in d.reason
    # a tie goes to time (the stronger documentation)
    assert em.select_office_level(EST, 30, MdmLevel.MODERATE).rule_id == "EM-TIME-001"


def test_nothing_supported():
    assert em.select_office_level(EST, None, None).code is None
    assert em.select_office_level(EST, 5, None).code is None
    assert em.select_office_level(PatientStatus.UNKNOWN, 30, MdmLevel.HIGH).rule_id == "EM-STATUS-001"


@pytest.mark.parametrize("dob,new,est", [
    (date(2026, 1, 1), "99381", "99391"),   # under 1
    (date(2025, 3, 10), "99382", "99392"),  # turns 1 on the DOS
    (date(2022, 3, 11), "99382", "99392"),  # 4, turns 5 the day after
    (date(2021, 3, 10), "99383", "99393"),  # 5
    (date(2014, 3, 10), "99384", "99394"),  # 12
    (date(2008, 3, 10), "99385", "99395"),  # 18
    (date(1986, 3, 10), "99386", "99396"),  # 40
    (date(1961, 3, 11), "99386", "99396"),  # 64
    (date(1961, 3, 10), "99387", "99397"),  # 65 on the DOS
])
def test_preventive_age_bands(dob, new, est):
    dos = date(2026, 3, 10)
    assert em.preventive_code(NEW, dob, dos).code == new
    assert em.preventive_code(EST, dob, dos).code == est


def test_prolonged_time():
    assert em.prolonged_units(EST, 54, False) is None
    assert em.prolonged_units(EST, 55, False) == ("99417", 1)
    assert em.prolonged_units(NEW, 75, False) == ("99417", 1)
    assert em.prolonged_units(EST, 68, True) is None
    assert em.prolonged_units(EST, 69, True) == ("G2212", 1)
    assert em.prolonged_units(NEW, 89, True) == ("G2212", 1)
