"""The scrubber's per-record decisions (services/scrubber/flow.py) over plain dict tables,
the way the Faust shell applies them: outputs first, table writes after acknowledgement."""

from __future__ import annotations

import pytest

from claimflow import topics
from services.scrubber import corrections as corr
from services.scrubber import flow
from services.scrubber.history import HistoryUpdates

from .scrub_helpers import NOW, coded, line


class Tables:
    """The three scrubber tables as dicts, written the way the shell writes them."""

    def __init__(self):
        self.emitted: dict[str, dict] = {}
        self.days: dict[str, dict] = {}
        self.held_index: dict[str, dict] = {}
        self.history = flow.DayHistory(self.days)

    def commit(self, decision: flow.Decision, claim_id: str) -> None:
        if decision.emitted is not None:
            self.emitted[claim_id] = decision.emitted
        if decision.held_index is not None:
            self.held_index[claim_id] = decision.held_index
        if decision.history is not None:
            self.days[decision.history.day_key] = flow.apply_updates(self.days.get(decision.history.day_key), decision.history)

    def scrub(self, scrubber, enc) -> flow.Decision:
        cid = flow.claim_id_of(enc)
        d = flow.scrub_coded(enc, self.emitted.get(cid), scrubber, self.history, NOW)
        self.commit(d, cid)
        return d


def test_apply_updates_accumulates_units_once_per_claim():
    a = HistoryUpdates("DK1", "C1", {"99213": 1, "J1885": 4}, ("S1",))
    b = HistoryUpdates("DK1", "C2", {"J1885": 3}, ("S2", "S1"))
    e = flow.apply_updates(None, a)
    e = flow.apply_updates(e, b)
    assert e == {"units": {"99213": 1, "J1885": 7}, "signatures": ["S1", "S2"], "claims": ["C1", "C2"]}
    assert flow.apply_updates(e, b) == e  # a redelivered claim adds nothing
    history = flow.DayHistory({"DK1": e})
    assert history.units_billed("DK1", "J1885") == 7 and history.units_billed("DK2", "J1885") == 0
    assert history.has_signature("DK1", "S2") and not history.has_signature("DK1", "S9")


def test_mue_units_accumulate_across_claims_of_the_day(scrubber):
    t = Tables()
    first = t.scrub(scrubber, coded([line("99213")], encounter_id="ENC-A"))
    assert first.outcome == flow.CLEAN and first.output[0] == topics.CLAIMS
    day_key = first.history.day_key
    assert t.history.units_billed(day_key, "99213") == 1
    second = t.scrub(scrubber, coded([line("99213", ["25"]), line("11102")], encounter_id="ENC-B"))
    assert second.outcome == flow.HELD and second.output[0] == topics.CLAIMS_HELD
    assert "MUE-002" in {f.rule_id for f in second.findings}
    assert second.history is None and t.history.units_billed(day_key, "99213") == 1  # a held claim bills nothing
    assert t.emitted[flow.claim_id_of(coded(encounter_id="ENC-B"))]["state"] == corr.HELD


def test_redelivered_encounter_is_a_duplicate_with_no_output_or_writes(scrubber):
    t = Tables()
    enc = coded([line("99213")], encounter_id="ENC-D")
    assert t.scrub(scrubber, enc).outcome == flow.CLEAN
    again = t.scrub(scrubber, enc)
    assert again.outcome == flow.DUPLICATE and again.output is None and not again.has_writes
    [entry] = t.days.values()
    assert entry["units"] == {"99213": 1} and len(entry["claims"]) == 1


def test_held_claim_is_indexed_once_and_corrections_are_routed_to_its_day(scrubber):
    t = Tables()
    enc = coded([line("99213"), line("11102", charge="150.00")], encounter_id="ENC-H")
    held = t.scrub(scrubber, enc)
    assert held.outcome == flow.HELD
    held_claim = held.output[2]
    first = flow.index_held(held_claim, None, scrubber.day_key)
    t.commit(first, held_claim.claim_id)
    assert t.held_index[held_claim.claim_id] == {"day_key": scrubber.day_key(held_claim.claim)}
    assert not flow.index_held(held_claim, t.held_index[held_claim.claim_id], scrubber.day_key).has_writes

    # the person changes the patient id: the correction still goes to the held claim's day
    moved = held_claim.claim.model_copy(update={"patient": held_claim.claim.patient.model_copy(update={"patient_id": "MRN-OTHER"})})
    correction = corr.make_correction(moved, "biller-1", "wrong chart", NOW)
    routed = flow.route_correction(correction, t.held_index.get(correction.claim_id), scrubber.day_key)
    assert routed.output[0] == topics.CLAIMS_CORRECTED_BY_DAY and routed.output[1] == scrubber.day_key(held_claim.claim)
    assert scrubber.day_key(moved) != routed.output[1]
    # not indexed yet: the corrected claim's own day_key
    assert flow.route_correction(correction, None, scrubber.day_key).output[1] == scrubber.day_key(moved)


def test_correction_released_once_then_refused(scrubber):
    t = Tables()
    enc = coded([line("99213"), line("11102", charge="150.00")], encounter_id="ENC-R")
    held_claim = t.scrub(scrubber, enc).output[2]
    cid = held_claim.claim_id
    fix = corr.make_correction(corr.apply_edits(held_claim.claim, corr.ClaimEdits(lines=[corr.LineEdit(1, modifiers=["25"])])),
                               "biller-7", "E/M separately identifiable", NOW)
    d = flow.rescrub_correction(fix, t.emitted.get(cid), scrubber, t.history, NOW)
    assert d.outcome == flow.RELEASED and d.output[:2] == (topics.CLAIMS, cid)
    t.commit(d, cid)
    assert t.emitted[cid]["state"] == corr.RELEASED and t.history.units_billed(d.history.day_key, "99213") == 1
    assert flow.rescrub_correction(fix, t.emitted[cid], scrubber, t.history, NOW).outcome == flow.DUPLICATE
    other = corr.make_correction(corr.apply_edits(held_claim.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, modifiers=["59"])])),
                                 "biller-7", "", NOW)
    with pytest.raises(corr.CorrectionRefused) as e:
        flow.rescrub_correction(other, t.emitted[cid], scrubber, t.history, NOW)
    assert e.value.code == "AlreadyReleased"


def test_correction_without_the_fix_is_held_again(scrubber):
    t = Tables()
    held_claim = t.scrub(scrubber, coded([line("99213"), line("11102", charge="150.00")], encounter_id="ENC-G")).output[2]
    same = corr.make_correction(corr.apply_edits(held_claim.claim, corr.ClaimEdits(lines=[corr.LineEdit(2, charge="151.00")])),
                                "biller-2", "", NOW)
    d = flow.rescrub_correction(same, t.emitted[held_claim.claim_id], scrubber, t.history, NOW)
    assert d.outcome == flow.HELD_AGAIN and d.output[0] == topics.CLAIMS_HELD and d.history is None
    assert d.emitted["state"] == corr.HELD and d.emitted["corrections"] == [same.correction_id]
