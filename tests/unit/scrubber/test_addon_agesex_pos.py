from datetime import date

from claimflow.models import AdministrativeSex, EditFamily, Severity, VisitType

from .scrub_helpers import coded, line, rule_ids

ADD, AGE, POS = EditFamily.ADD_ON, EditFamily.AGE_SEX, EditFamily.PLACE_OF_SERVICE


def test_addon_with_primary_passes(run):
    assert run(coded([line("11102"), line("11103", units=2)]), ADD) == []


def test_addon_without_primary_fails(run):
    fs = run(coded([line("99213"), line("11103")]), ADD)
    assert rule_ids(fs) == ["ADD-001"] and fs[0].line_numbers == [2] and fs[0].source_row["primaries"] == "11102"


def test_addon_before_its_effective_date_is_not_checked(run):
    assert run(coded([line("99213"), line("G2211")], dos=date(2023, 12, 31)), ADD) == []
    assert rule_ids(run(coded([line("11102"), line("G2211")], dos=date(2024, 1, 1)), ADD)) == ["ADD-001"]


def test_age_and_sex_pass(run):
    assert run(coded(dx=["N40.0"], sex=AdministrativeSex.MALE), AGE) == []


def test_sex_conflict(run):
    fs = run(coded(dx=["N40.0"], sex=AdministrativeSex.FEMALE), AGE)
    assert rule_ids(fs) == ["AGE-002"] and fs[0].source_row["edit_type"] == "Male_Only"


def test_unknown_sex_is_not_judged(run):
    assert run(coded(dx=["N40.0"], sex=AdministrativeSex.UNKNOWN), AGE) == []


def test_pediatric_age_boundary(run):
    # Z00.129 is pediatric (0-17): 17 on the DOS passes, 18 fails
    seventeen = coded([line("99213")], dx=["Z00.129"], dob=date(2008, 6, 16), sex=AdministrativeSex.FEMALE)
    eighteen = coded([line("99213")], dx=["Z00.129"], dob=date(2008, 6, 15), sex=AdministrativeSex.FEMALE)
    assert run(seventeen, AGE) == []
    assert rule_ids(run(eighteen, AGE)) == ["AGE-001"]


def test_procedure_age_band(run):
    assert run(coded([line("99396")], dx=["Z00.00"], dob=date(1980, 1, 1)), AGE) == []
    fs = run(coded([line("99396")], dx=["Z00.00"], dob=date(1990, 1, 1)), AGE)
    assert rule_ids(fs) == ["AGE-004"]


def test_manifestation_first_listed(run):
    assert rule_ids(run(coded(dx=["F02.80", "G30.9"]), AGE)) == ["AGE-003"]
    assert run(coded([line("99213", ptr=[1, 2])], dx=["G30.9", "F02.80"]), AGE) == []


def test_office_pos_passes(run):
    assert run(coded(), POS) == []


def test_invalid_pos(run):
    assert rule_ids(run(coded(pos="88"), POS)) == ["POS-001"]


def test_telehealth_pos_02_and_10_both_valid(run):
    for pos in ("02", "10"):
        assert run(coded([line("99213", ["95"])], pos=pos, visit=VisitType.TELEHEALTH), POS) == []


def test_telehealth_visit_at_office_pos(run):
    assert rule_ids(run(coded([line("99213", ["95"])], pos="11", visit=VisitType.TELEHEALTH), POS)) == ["POS-002"]


def test_payer_requiring_modifier_95(run):
    fs = run(coded([line("99213")], pos="10", visit=VisitType.TELEHEALTH, payer="BCX22"), POS)
    assert rule_ids(fs) == ["POS-004"]
    assert run(coded([line("99213")], pos="10", visit=VisitType.TELEHEALTH, payer="MCR01"), POS) == []


def test_non_telehealth_service_at_telehealth_pos(run):
    fs = run(coded([line("99213", ["95"]), line("36415")], pos="10", visit=VisitType.TELEHEALTH), POS)
    assert rule_ids(fs) == ["POS-003"] and fs[0].line_numbers == [2]


def test_modifier_95_in_person_warns(run):
    fs = run(coded([line("99213", ["95"])], pos="11"), POS)
    assert rule_ids(fs) == ["POS-006"] and fs[0].severity == Severity.WARNING
