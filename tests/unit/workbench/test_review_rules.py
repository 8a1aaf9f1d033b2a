"""The review form's rules and the coder's checks of human codes (same rules on both sides)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from claimflow.models import CodedEncounter, CodingResolution, CodingReviewItem, Provenance, ResolutionAction
from services.coder.resolution import DraftLine, apply_resolution, check_human_codes
from services.workbench import review_rules
from services.workbench.review_rules import EditForm, decide, read_form, resolution_id

from .builders import T0, encounter, review

NOW = datetime(2026, 4, 2, 10, 0, tzinfo=timezone.utc)
DOS = date(2026, 3, 10)


def _decide(ref, form: EditForm, send_back=False, dx=("E11.9",)):
    item = review(dx=dx)
    return decide(ref, encounter_id=item.encounter_id, encounter_version=1, routed_at=T0, dos=DOS,
                  proposal_diagnoses=[d.model_dump(mode="json") for d in item.proposed_diagnoses],
                  proposal_lines=[ln.model_dump(mode="json") for ln in item.proposed_service_lines],
                  form=form, send_back=send_back, user="alice", role="coder", now=NOW)


def form(**data) -> EditForm:
    base = {"dx_1": "E11.9", "line_1_code": "99213", "line_1_units": "1", "line_1_pointers": "1"}
    base.update(data)
    return read_form({k: v for k, v in base.items() if v is not None})


def test_unchanged_proposal_is_an_accept_without_reason(ref):
    d = _decide(ref, form())
    assert d.errors == [] and d.resolution.action is ResolutionAction.ACCEPT
    assert [x.code for x in d.resolution.diagnoses] == ["E11.9"]
    assert d.resolution.service_lines[0].charge == Decimal("120.00")  # the proposal's charge is kept
    assert all(x.provenance is Provenance.REVIEWED for x in d.resolution.diagnoses + d.resolution.service_lines)


def test_a_change_needs_an_override_reason(ref):
    d = _decide(ref, form(dx_1="E11.65"))
    assert d.resolution is None and any("override reason" in e for e in d.errors)
    d = _decide(ref, form(dx_1="E11.65", reason="hyperglycaemia documented in the note"))
    assert d.errors == [] and d.resolution.action is ResolutionAction.EDIT
    assert [x.code for x in d.resolution.before_diagnoses] == ["E11.9"] and [x.code for x in d.resolution.diagnoses] == ["E11.65"]


@pytest.mark.parametrize("code, words", [("E11", "header"), ("E11.99", "not an ICD-10-CM code"), ("X", "not an ICD-10-CM code")])
def test_invalid_or_non_billable_code_is_a_form_error(ref, code, words):
    d = _decide(ref, form(dx_1=code, reason="changed"))
    assert d.resolution is None and any(words in e for e in d.errors), d.errors


def test_bad_lines_are_form_errors(ref):
    d = _decide(ref, form(line_1_code="9921", line_1_pointers="3", line_1_modifiers="25 25", reason="x"))
    text = " ".join(d.errors)
    assert d.resolution is None
    assert "neither a CPT nor a HCPCS" in text and "pointer 3" in text and "listed twice" in text


def test_new_code_is_priced_from_the_fee_schedule(ref):
    d = _decide(ref, form(line_1_code="99214", reason="moderate MDM documented"))
    assert d.errors == [] and d.resolution.service_lines[0].charge == ref.fee("99214", []) > 0


def test_send_back_needs_the_question_and_carries_no_codes(ref):
    assert _decide(ref, form(), send_back=True).resolution is None
    d = _decide(ref, form(reason="please document the diabetes type"), send_back=True)
    assert d.resolution.action is ResolutionAction.QUERY_PROVIDER and not d.resolution.diagnoses


def test_resolution_id_is_one_per_routing():
    assert resolution_id("E1", 1, 5) == resolution_id("E1", 1, 5) != resolution_id("E1", 1, 6)


def test_plain_words_cover_the_coders_reason_codes():
    for code in ("DX_HEADER_CODE", "DX_UNMAPPED_SNOMED", "EM_UNSUPPORTED", "PROC_UNKNOWN_CODE", "MISSING_DOCUMENTATION"):
        assert review_rules.plain_words(code, "raw") != "raw"
    assert review_rules.plain_words("SOMETHING_NEW", "raw message") == "raw message"


def test_code_validity_is_judged_by_the_fiscal_year_of_the_dos(ref):
    if 2025 not in ref.code_sets:
        pytest.skip("ICD-10-CM FY2025 not loaded")
    ok = check_human_codes(ref, date(2025, 10, 1), ["E11.A"], [DraftLine("99213")])
    old = check_human_codes(ref, date(2025, 9, 30), ["E11.A"], [DraftLine("99213")])
    assert ok.ok and [f.code for f in old.findings] == ["DX_INVALID_FOR_DOS_YEAR"]


# --- the coder applying a resolution -----------------------------------------------------------


def test_coder_turns_a_valid_resolution_into_a_human_coded_encounter(ref):
    res = _decide(ref, form(dx_1="E11.65", reason="hyperglycaemia")).resolution
    out = apply_resolution(ref, encounter(dx_code="E11"), res, NOW)
    assert isinstance(out, CodedEncounter)
    assert [d.code for d in out.diagnoses] == ["E11.65"] and out.diagnoses[0].provenance is Provenance.REVIEWED
    assert res.resolution_id in out.coder_version and out.patient.last_name == "Quarry"


def test_coder_sends_invalid_human_codes_back_to_review_with_the_finding(ref):
    good = _decide(ref, form()).resolution
    bad = good.model_copy(update={"diagnoses": [good.diagnoses[0].model_copy(update={"code": "E11"})]})
    out = apply_resolution(ref, encounter(), bad, NOW)
    assert isinstance(out, CodingReviewItem)
    assert [r.code for r in out.reasons] == ["HUMAN_CODES_INVALID", "DX_HEADER_CODE"]
    assert "E11.9" in out.reasons[1].candidates and out.routed_at == NOW


def test_the_contract_refuses_an_edit_without_reason():
    with pytest.raises(ValueError):
        CodingResolution(resolution_id="R", encounter_id="E", encounter_version=1, review_routed_at=T0,
                         action=ResolutionAction.EDIT, resolved_by="a", resolved_role="coder", resolved_at=NOW, reason=" ",
                         service_lines=[review().proposed_service_lines[0]])
