"""The held-claim correction loop (pure part): edits, ids, and the release/refuse decision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claimflow.models import ClaimCorrection
from services.scrubber import corrections as corr
from services.scrubber.history import InMemoryClaimHistory
from services.scrubber.logic import EncounterFacts

from .scrub_helpers import NOW, coded, line, rule_ids


@pytest.fixture
def held(scrubber):
    """A claim held for an NCCI PTP MI-1 pair (99213 billed with 11102, no modifier)."""
    enc = coded([line("99213"), line("11102", charge="150.00")])
    result = scrubber.scrub(enc, InMemoryClaimHistory(), NOW)
    assert result.held is not None and "PTP-002" in rule_ids(result.findings)
    return enc, result.held


def held_entry(enc):
    return corr.entry_for(enc.encounter_version, corr.HELD, EncounterFacts.of(enc))


def test_modifier_fix_is_released_by_rescrub(scrubber, held):
    enc, h = held
    fixed = corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])]))
    c = corr.make_correction(fixed, "biller-7", "E/M separately identifiable", NOW)
    assert corr.check_correction(held_entry(enc), c) is True
    result = scrubber.rescrub(c.claim, InMemoryClaimHistory(), NOW, EncounterFacts.of(enc))
    assert result.held is None and result.claim is not None
    assert result.claim.claim_id == h.claim_id
    assert result.claim.lines[0].modifiers == ["25"]
    assert result.history_updates is not None and result.history_updates.claim_id == h.claim_id


def test_correction_without_the_fix_is_held_again(scrubber, held):
    enc, h = held
    unchanged_but_units = corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, units=1, charge="160.00")]))
    result = scrubber.rescrub(unchanged_but_units, InMemoryClaimHistory(), NOW, EncounterFacts.of(enc))
    assert result.held is not None and "PTP-002" in rule_ids(result.findings)


def test_apply_edits_recomputes_total_and_replaces_codes(held):
    _, h = held
    fixed = corr.apply_edits(h.claim, corr.ClaimEdits(
        lines=[corr.LineEdit(2, code="11103", charge="99.50")], diagnosis_replacements={"E11.9": "E11.65"}, place_of_service="22"))
    assert fixed.lines[1].procedure_code == "11103"
    assert fixed.total_charge == Decimal("100.00") + Decimal("99.50")
    assert "E1165" in [d.replace(".", "") for d in fixed.diagnoses]
    assert fixed.place_of_service == "22"
    assert fixed.findings == []
    assert h.claim.lines[1].procedure_code == "11102"  # the original is not mutated


def test_remove_line_and_unknown_line(held):
    _, h = held
    fixed = corr.apply_edits(h.claim, corr.ClaimEdits(remove_lines=[2]))
    assert [l.line_number for l in fixed.lines] == [1] and fixed.total_charge == Decimal("100.00")
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(9, units=2)]))
    assert e.value.code == "UnknownLine"
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.apply_edits(h.claim, corr.ClaimEdits(remove_lines=[1, 2]))
    assert e.value.code == "NoLines"
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.apply_edits(h.claim, corr.ClaimEdits(diagnosis_replacements={"Z00.00": "Z00.01"}))
    assert e.value.code == "UnknownDiagnosis"
    with pytest.raises(ValueError):  # a person's edit must still make a valid claim
        corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, units=0)]))


def test_correction_id_is_deterministic_and_content_sensitive(held):
    _, h = held
    a = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])])), "u1", "", NOW)
    b = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])])), "u2", "other", NOW)
    c = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, modifiers=["59"])])), "u1", "", NOW)
    assert a.correction_id == b.correction_id  # same content, whoever sends it again
    assert a.correction_id != c.correction_id


def test_redelivered_correction_is_dropped_and_released_claim_refused(held):
    enc, h = held
    c = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])])), "u1", "", NOW)
    released = corr.after_correction(held_entry(enc), c, released=True)
    assert released["state"] == corr.RELEASED and released["corrections"] == [c.correction_id]
    assert corr.check_correction(released, c) is False  # the same correction again: a redelivery
    other = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, modifiers=["59"])])), "u1", "", NOW)
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.check_correction(released, other)
    assert e.value.code == "AlreadyReleased"


def test_held_again_accepts_a_second_correction(held):
    enc, h = held
    first = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, units=1, charge="151.00")])), "u1", "", NOW)
    entry = corr.after_correction(held_entry(enc), first, released=False)
    second = corr.make_correction(corr.apply_edits(h.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])])), "u1", "", NOW)
    assert corr.check_correction(entry, second) is True


@pytest.mark.parametrize("entry, code", [
    (None, "UnknownHeldClaim"),
    ({"version": 1, "state": None, "corrections": [], "facts": {}}, "NotHeld"),
    ({"version": 2, "state": corr.HELD, "corrections": [], "facts": {}}, "VersionMismatch"),
])
def test_refusals(held, entry, code):
    _, h = held
    c = corr.make_correction(h.claim, "u1", "", NOW)
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.check_correction(entry, c)
    assert e.value.code == code


def test_a_correction_cannot_move_the_claim_to_another_encounter(held):
    enc, h = held
    moved = h.claim.model_copy(update={"encounter_id": "ENC-OTHER"})
    c = corr.make_correction(moved, "u1", "", NOW)
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.check_correction(held_entry(enc), c)
    assert e.value.code == "ClaimMismatch"


def test_tampered_correction_id_is_refused(held):
    enc, h = held
    c = corr.make_correction(h.claim, "u1", "", NOW)
    forged = c.model_copy(update={"correction_id": "CC" + "0" * 24})
    with pytest.raises(corr.CorrectionRefused) as e:
        corr.check_correction(held_entry(enc), forged)
    assert e.value.code == "CorrectionIdMismatch"


def test_contract_rejects_a_different_claim_id(held):
    _, h = held
    c = corr.make_correction(h.claim, "u1", "", NOW)
    with pytest.raises(ValueError):
        ClaimCorrection.model_validate({**c.model_dump(), "claim_id": "CLM-OTHER"})


def test_facts_round_trip_and_legacy_entries(held):
    enc, _ = held
    facts = EncounterFacts.of(enc)
    assert corr.facts_from_dict(corr.facts_to_dict(facts)) == facts
    assert corr.normalise_entry(3) == {"version": 3, "state": None, "corrections": [], "facts": {}}


def test_correction_round_trips_through_avro(held):
    from claimflow.codec import Codec

    _, h = held
    c = corr.make_correction(h.claim, "u1", "reason text", NOW)
    codec = Codec()
    back = ClaimCorrection.model_validate(codec.decode(codec.encode("ClaimCorrection", c.to_avro()), "ClaimCorrection"))
    assert back == c
