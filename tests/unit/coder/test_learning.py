"""The learning rule (services/coder/learning.py): decisions per concept from resolutions,
k agreeing decisions -> learned, a disagreement -> back to review with the reason in words,
learned codes checked for the date of service. Pure: the real coder and code sets, a dict
as the table."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import itertools

import pytest

from claimflow.codec import Codec
from claimflow.models import (
    CodedDiagnosis,
    CodedServiceLine,
    CodingResolution,
    Provenance,
    ResolutionAction,
)
from services.coder import learning
from services.coder.resolution import HUMAN_RULE_ID, apply_resolution
from tests.unit.coder.coder_helpers import NOW, SCT, dx, make_enc

CVX = "http://hl7.org/fhir/sid/cvx"
_IDS = itertools.count(100)  # unique resolution ids across a test
SYNCOPE = "271594007"  # a SNOMED CT concept the curated map does not carry (the coder sends it to review)


def _review(coder, enc):
    r = coder.code(enc, NOW)
    assert r.review is not None
    return r.review


def _resolve(review, enc, n, diagnoses=None, lines=None, action=ResolutionAction.EDIT):
    if action is ResolutionAction.QUERY_PROVIDER:
        return CodingResolution(resolution_id=f"R{n}", encounter_id=enc.encounter_id, encounter_version=enc.version,
                                review_routed_at=review.routed_at, action=action, resolved_by="coder1", resolved_role="coder",
                                resolved_at=NOW, reason="needs documentation")
    dxs = review.proposed_diagnoses if diagnoses is None else [
        CodedDiagnosis(sequence=i, code=c, provenance=Provenance.REVIEWED, confidence=1.0, rule_id=HUMAN_RULE_ID,
                       code_set_version="x") for i, c in enumerate(diagnoses, start=1)]
    lns = review.proposed_service_lines if lines is None else [
        CodedServiceLine(line_number=i, code=c, modifiers=[], units=1, charge=Decimal("50.00"), diagnosis_pointers=[1],
                         provenance=Provenance.REVIEWED, confidence=1.0, rule_id=HUMAN_RULE_ID, code_set_version="x")
        for i, c in enumerate(lines, start=1)]
    return CodingResolution(resolution_id=f"R{n}", encounter_id=enc.encounter_id, encounter_version=enc.version,
                            review_routed_at=review.routed_at, action=action, resolved_by="coder1", resolved_role="coder",
                            resolved_at=NOW, reason="" if action is ResolutionAction.ACCEPT else "coder's choice",
                            before_diagnoses=review.proposed_diagnoses, before_service_lines=review.proposed_service_lines,
                            diagnoses=dxs, service_lines=lns)


def _syncope_visit(**kw):
    return make_enc(minutes=25, dxs=[dx(SYNCOPE, "Syncope", SCT, True)], **kw)


def _teach(coder, store, choices, make=_syncope_visit, lines_for=None):
    """One resolution per choice (a list of ICD-10-CM codes), each applied with the coder's checks first."""
    for choice in choices:
        n = next(_IDS)
        enc = make()
        review = _review(coder, enc)
        proposed_lines = [ln.code for ln in review.proposed_service_lines]
        res = _resolve(review, enc, n, diagnoses=choice, lines=lines_for(choice) if lines_for else proposed_lines)
        assert apply_resolution(coder.ref, enc, res, NOW).__class__.__name__ == "CodedEncounter"
        concepts, _ = learning.review_concepts(enc, review)
        store.learn(n % 2, concepts, res)  # two resolution partitions: the parts merge


# --- the pure rule -------------------------------------------------------------------------


def test_verdict_needs_k_agreeing_and_no_disagreeing():
    c = learning.Concept("dx", "snomed", SYNCOPE, "Syncope")
    assert learning.verdict(c, {}, 3).state == "unknown"
    assert learning.verdict(c, {"R55": 2}, 3).state == "learning"
    v = learning.verdict(c, {"R55": 3}, 3)
    assert (v.state, v.decision, v.n) == ("learned", "R55", 3)
    assert learning.verdict(c, {"R55": 1}, 1).state == "learned"
    assert learning.verdict(c, {"R55": 9}, 0).state == "learning"  # k = 0: learning off
    v = learning.verdict(c, {"R55": 3, "R42": 1}, 3)
    assert v.state == "conflict"
    assert v.message == "coders disagreed about SNOMED CT 271594007 (Syncope): 3 chose R55, 1 chose R42; a person decides until they agree"
    assert "no code" in learning.verdict(c, {"R55": 3, "": 1}, 3).message
    assert learning.note(3) == "learned from 3 coder decisions" and learning.note(1) == "learned from 1 coder decision"


def test_store_counts_each_resolution_once_and_merges_partitions():
    store = learning.LearnedStore({}, partitions=3)
    assert store.record(0, "dx|snomed|1", "R1", "R55")
    assert not store.record(0, "dx|snomed|1", "R1", "R55")  # redelivery
    assert store.record(2, "dx|snomed|1", "R2", "R55")
    assert store.record(1, "dx|snomed|1", "R3", "R42")
    assert store.counts("dx|snomed|1") == {"R55": 2, "R42": 1}
    assert store.counts("dx|snomed|2") == {}
    assert set(store.table) == {"0/dx|snomed|1", "1/dx|snomed|1", "2/dx|snomed|1"}


def test_accepting_the_proposal_unchanged_confirms_it(coder):
    enc = _syncope_visit()
    review = _review(coder, enc)
    concepts, other = learning.review_concepts(enc, review)
    assert [c.key for c in concepts] == [f"dx|snomed|{SYNCOPE}"] and other == []
    # the proposal had no code for the unmapped concept: accepting it decides "no code"
    assert learning.decisions(concepts, _resolve(review, enc, 1, action=ResolutionAction.ACCEPT)) == {concepts[0].key: ""}
    assert learning.decisions(concepts, _resolve(review, enc, 2, diagnoses=["R55"], lines=["99213"])) == {concepts[0].key: "R55"}
    assert learning.decisions(concepts, _resolve(review, enc, 3, action=ResolutionAction.QUERY_PROVIDER)) == {}


def test_added_codes_attributed_by_candidates_or_not_at_all(coder):
    enc = make_enc(minutes=25, dxs=[dx(SYNCOPE, "Syncope", SCT, True), dx("230690007", "Stroke", SCT)])
    review = _review(coder, enc)
    concepts, _ = learning.review_concepts(enc, review)
    if len(concepts) != 2:
        pytest.skip("the curated map now carries one of the two concepts")
    cands = {c.key: c.candidates for c in concepts}
    a, b = concepts
    pick_a = next(x for x in a.candidates if x not in b.candidates)
    pick_b = next(x for x in b.candidates if x not in a.candidates)
    got = learning.decisions(concepts, _resolve(review, enc, 1, diagnoses=[pick_a, pick_b], lines=["99213"]))
    assert got == {a.key: pick_a, b.key: pick_b}, cands
    # a code neither concept proposed cannot be attributed: nothing learned about diagnoses
    assert learning.decisions(concepts, _resolve(review, enc, 2, diagnoses=[pick_a, "R69"], lines=["99213"])) == {}


# --- coding with what was learned ----------------------------------------------------------


def test_k_agreeing_resolutions_code_the_next_encounter_with_learned_provenance(coder):
    store = learning.LearnedStore({}, partitions=2)
    _teach(coder, store, [["R55"], ["R55"]])
    nxt = _syncope_visit()
    review = _review(coder, nxt)
    still = learning.apply(coder.ref, nxt, review, store.counts, 3, NOW)
    assert still.coded is None and still.review == review  # two decisions: not yet
    _teach(coder, store, [["R55"]])
    got = learning.apply(coder.ref, nxt, review, store.counts, 3, NOW)
    assert got.review is None
    d = got.coded.diagnoses[0]
    assert (d.code, d.provenance, d.rule_id, d.source_code) == ("R55", Provenance.LEARNED, "LEARNED-001", SYNCOPE)
    assert d.provenance_note == "learned from 3 coder decisions (SNOMED CT 271594007)"
    assert [ln.code for ln in got.coded.service_lines] == [ln.code for ln in review.proposed_service_lines]
    assert got.coded.service_lines[0].diagnosis_pointers == [1]


def test_learned_encounter_round_trips_the_v2_contract(coder):
    from claimflow.models import CodedEncounter

    store = learning.LearnedStore({}, partitions=2)
    _teach(coder, store, [["R55"]] * 3)
    got = learning.apply(coder.ref, _syncope_visit(), _review(coder, _syncope_visit()), store.counts, 3, NOW)
    data = Codec().encode("CodedEncounter", got.coded.to_avro())  # the encoding the services publish with
    assert data[2:10] == Codec().store.get("CodedEncounter", 2).fingerprint
    back = CodedEncounter.model_validate(Codec().decode(data, "CodedEncounter"))
    assert back.diagnoses[0].provenance is Provenance.LEARNED and back.diagnoses[0].provenance_note.startswith("learned from 3")


def test_a_disagreement_sends_the_concept_back_to_review_naming_it(coder):
    store = learning.LearnedStore({}, partitions=2)
    _teach(coder, store, [["R55"], ["R55"], ["R55"], ["R42"]])
    nxt = _syncope_visit()
    got = learning.apply(coder.ref, nxt, _review(coder, nxt), store.counts, 3, NOW)
    assert got.coded is None
    why = [r for r in got.review.reasons if r.code == "LEARNED_DISAGREEMENT"]
    assert len(why) == 1 and "3 chose R55, 1 chose R42" in why[0].message and SYNCOPE in why[0].message
    assert why[0].subject == "diagnosis[0]"


def test_other_reasons_keep_the_encounter_in_review(coder):
    store = learning.LearnedStore({}, partitions=2)
    _teach(coder, store, [["R55"]] * 3)
    # no time and no MDM: the E/M level is a reason about the visit, not a concept
    enc = make_enc(dxs=[dx(SYNCOPE, "Syncope", SCT, True)])
    review = _review(coder, enc)
    concepts, other = learning.review_concepts(enc, review)
    assert concepts and other
    assert learning.apply(coder.ref, enc, review, store.counts, 3, NOW).coded is None


def test_a_learned_code_not_valid_on_the_date_of_service_goes_to_review(coder, ref):
    enc = _syncope_visit()
    review = _review(coder, enc)
    # a header (non-billable) code, and a code of a later fiscal year than the date of service
    header = learning.apply(ref, enc, review, lambda key: {"R55 R56": 3}, 3, NOW)
    assert header.coded is None and "LEARNED_CODE_INVALID" in [r.code for r in header.review.reasons]
    assert "DX_HEADER_CODE" in [r.code for r in header.review.reasons]
    years = sorted(ref.code_sets)
    new_codes = sorted(set(ref.code_sets[years[-1]].billable_codes()) - set(ref.code_sets[years[0]].billable_codes()))
    if not new_codes:
        pytest.skip("no code added between the loaded fiscal years")
    from services.coder.icd10 import add_dot

    old = _syncope_visit(dos=date(years[0] - 1, 11, 1))
    old_review = _review(coder, old)
    got = learning.apply(ref, old, old_review, lambda key: {add_dot(new_codes[0]): 3}, 3, NOW)
    assert got.coded is None
    words = [r.message for r in got.review.reasons if r.code == "LEARNED_CODE_INVALID"]
    assert words and f"{old.date_of_service.isoformat()}" in words[0]
    assert any(r.code in ("DX_INVALID_FOR_DOS_YEAR", "DX_UNKNOWN_CODE") for r in got.review.reasons)


def test_vaccine_product_learned_for_an_ambiguous_cvx(coder):
    def toddler():
        dos = date(2026, 3, 10)
        return make_enc(visit="preventive", dos=dos, dob=dos - timedelta(days=2 * 365 + 30),
                        pxs=[{"system": CVX, "code": "140", "display": "Influenza, seasonal, injectable, preservative free",
                              "units": 1, "modifiers": [], "laterality": None, "charge": None}])
    enc = toddler()
    review = _review(coder, enc)
    concepts, other = learning.review_concepts(enc, review)
    assert [c.key for c in concepts] == ["px|cvx|140"] and other == []
    store = learning.LearnedStore({}, partitions=2)
    proposed = [ln.code for ln in review.proposed_service_lines]
    _teach(coder, store, [list(d.code for d in review.proposed_diagnoses)] * 3, make=toddler,
           lines_for=lambda _: proposed + ["90655"])
    assert store.counts("px|cvx|140") == {"90655": 3}
    got = learning.apply(coder.ref, toddler(), review, store.counts, 3, NOW)
    assert got.review is None
    learned = [ln for ln in got.coded.service_lines if ln.provenance is Provenance.LEARNED]
    assert [ln.code for ln in learned] == ["90655"] and learned[0].charge > 0
    assert sorted(ln.code for ln in got.coded.service_lines) == sorted(proposed + ["90655"])
