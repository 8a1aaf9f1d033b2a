from decimal import Decimal

from claimflow.models import EditFamily, Severity

from services.scrubber.logic import npi_is_valid

from .scrub_helpers import coded, line, rule_ids

REQ = EditFamily.REQUIRED_DATA


def test_clean_claim_has_no_required_data_findings(run):
    assert run(coded(), REQ) == []


def test_missing_coverage_tax_id_and_bad_pointer(run):
    c = coded([line("99213", ptr=[3])], payer=None, tax_id=None)
    assert rule_ids(run(c, REQ), REQ) == ["REQ-001", "REQ-004", "REQ-005"]


def test_pointer_boundary_last_diagnosis_is_fine(run):
    assert run(coded([line("99213", ptr=[2])], dx=["I10", "E11.9"]), REQ) == []
    assert rule_ids(run(coded([line("99213", ptr=[0])]), REQ)) == ["REQ-004"]


def test_charges_must_sum(scrubber, history):
    from .scrub_helpers import NOW
    claim = scrubber.scrub(coded([line("99213", charge="110.00"), line("36415", charge="12.00")]), history, NOW).claim
    assert claim.total_charge == Decimal("122.00")
    bad = claim.model_copy(update={"total_charge": Decimal("120.00")})
    res = scrubber.rescrub(bad, history, NOW)
    assert res.held is not None
    f = [f for f in res.held.claim.findings if f.rule_id == "REQ-006"][0]
    assert f.source_row == {"claim_charge": "120.00", "line_sum": "122.00"}


def test_zero_charge_line_and_payer_required_group_number(run):
    assert "REQ-007" in rule_ids(run(coded([line("99213", charge="0.00")]), REQ))
    assert rule_ids(run(coded(payer="BCX22", group_number=None), REQ)) == ["REQ-010"]
    assert run(coded(payer="BCX22"), REQ) == []  # group number present
    assert run(coded(payer="MCR01", group_number=None), REQ) == []  # Medicare does not need it


def test_npi_check_digit():
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567894")
    assert not npi_is_valid("123456789")
    assert not npi_is_valid("12345678A3")


def test_npi_family(run):
    assert run(coded(), EditFamily.NPI) == []
    fs = run(coded(rendering_npi="1245319590"), EditFamily.NPI)
    assert rule_ids(fs) == ["NPI-001"] and fs[0].severity == Severity.ERROR and fs[0].source_row == {"role": "rendering"}
