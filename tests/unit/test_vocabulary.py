"""Domain vocabulary shared across services: code formats (claimflow/codes.py) and the X12
code lists as str enums (claimflow/models.py)."""

import pytest

from claimflow import codes
from claimflow.models import AdjustmentGroup, ClaimState, ClaimStatusCode


@pytest.mark.parametrize("code", ["99213", "36415", "0001F", "0042T", "0001U", "0004M"])
def test_cpt_formats_of_every_category(code):
    assert codes.is_cpt(code) and codes.is_procedure_code(code) and not codes.is_hcpcs(code)


@pytest.mark.parametrize("code", ["9921", "992130", "0001X", "J1885", "99213 ", "0001m"])
def test_not_cpt(code):
    assert not codes.is_cpt(code)


def test_hcpcs_modifiers_and_icd10():
    assert codes.is_hcpcs("J1885") and codes.is_hcpcs("G2212") and not codes.is_hcpcs("W1234") and not codes.is_hcpcs("J188")
    assert all(codes.MODIFIER_RE.match(m) for m in ("25", "59", "XU", "LT")) and not codes.MODIFIER_RE.match("5")
    assert all(codes.ICD10_RE.match(c) for c in ("I10", "E11.9", "E119", "S30.1XXA")) and not codes.ICD10_RE.match("10I")


def test_coder_and_scrubber_share_the_formats():
    from services.coder import logic as coder
    from services.scrubber import edits as scrubber

    assert coder.CPT_RE is scrubber.CPT_RE is codes.CPT_RE
    assert coder.HCPCS_RE is scrubber.HCPCS_RE is codes.HCPCS_RE and coder.MODIFIER_RE is scrubber.MODIFIER_RE


def test_claim_status_codes_are_the_835_strings():
    assert ClaimStatusCode("4") is ClaimStatusCode.DENIED and ClaimStatusCode.REVERSAL == "22"
    assert {c.value for c in ClaimStatusCode} == {"1", "2", "3", "4", "19", "20", "21", "22", "23", "25"}
    assert all(c.text for c in ClaimStatusCode)
    from services.adjudicator import logic, rules

    assert set(logic.CLP02_TEXT) == {c.value for c in ClaimStatusCode}
    assert (logic.DENIED_STATUS, logic.REVERSAL_STATUS) == (rules.DENIED_STATUS, rules.REVERSAL_STATUS) == ("4", "22")
    assert type(logic.DENIED_STATUS) is str  # stored in ledger entries and reasons as the bare code


def test_cas_groups_and_ledger_states():
    assert [g.value for g in AdjustmentGroup] == ["CO", "PR", "OA", "PI", "CR"]
    assert "CAS01" in AdjustmentGroup.__doc__ and "CLP02" in ClaimStatusCode.__doc__
    assert ClaimState("paid") is ClaimState.PAID
