import json

from claimflow.ids import claim_id
from claimflow.models import Claim, EditFamily, HeldClaim, Severity

from services.scrubber import logic
from services.scrubber.history import EmptyClaimHistory, InMemoryClaimHistory

from .scrub_helpers import NOW, coded, line


def test_clean_claim_goes_out_with_history_updates(scrubber):
    res = scrubber.scrub(coded([line("99213", ["25"]), line("11102")]), InMemoryClaimHistory(), NOW)
    assert res.held is None and isinstance(res.claim, Claim)
    assert res.claim.claim_id == claim_id("ENC-T-0001", 1) and res.claim.findings == []
    assert res.history_updates.units == {"99213": 1, "11102": 1} and len(res.history_updates.signatures) == 2


def test_warning_travels_with_the_claim(scrubber):
    res = scrubber.scrub(coded([line("99213"), line("27447")]), InMemoryClaimHistory(), NOW)
    assert res.claim is not None and [f.severity for f in res.claim.findings] == [Severity.WARNING]


def test_error_holds_the_claim(scrubber):
    res = scrubber.scrub(coded([line("99213"), line("11102")]), InMemoryClaimHistory(), NOW)
    assert res.claim is None and isinstance(res.held, HeldClaim) and res.history_updates is None
    assert res.held.error_count == 1 and res.held.rule_families == [EditFamily.NCCI_PTP]
    HeldClaim.model_validate(res.held.to_avro() | {"claim": res.held.claim.to_avro()})


def test_findings_carry_no_phi(scrubber):
    c = coded([line("99213", units=2), line("11103")], dx=["E11", "N40.0"], tax_id=None, rendering_npi="1245319590")
    res = scrubber.scrub(c, InMemoryClaimHistory(), NOW)
    blob = json.dumps([f.to_avro() for f in res.held.claim.findings])
    for phi in ("MRN-T-0001", "Test", "Patient", "1960-05-05", "M123456789", "1245319590"):
        assert phi not in blob


def test_day_key_is_stable_and_not_phi(scrubber):
    k = scrubber.day_key(coded())
    assert k == scrubber.day_key(coded(encounter_id="ENC-OTHER")) and k.startswith("DK")
    assert "MRN" not in k and k != scrubber.day_key(coded(patient_id="MRN-T-0002"))


def test_rescrub_after_correction_keeps_claim_id(scrubber):
    h = InMemoryClaimHistory()
    held = scrubber.scrub(coded([line("99213"), line("11102")]), h, NOW).held
    fixed_lines = [held.claim.lines[0].model_copy(update={"modifiers": ["25"]}), held.claim.lines[1]]
    res = scrubber.rescrub(held.claim.model_copy(update={"lines": fixed_lines}), h, NOW)
    assert res.claim is not None and res.claim.claim_id == held.claim_id and res.claim.findings == []
    assert logic.rescrub(held.claim, NOW).held is not None  # module-level path


def test_module_level_scrub_convenience():
    res = logic.scrub(coded(), NOW)
    assert res.claim is not None


def test_family_selection(ref):
    s = logic.Scrubber(ref, families=[EditFamily.NPI])
    res = s.scrub(coded([line("99213"), line("11102")]), EmptyClaimHistory(), NOW)
    assert res.claim is not None
