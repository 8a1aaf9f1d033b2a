"""Rules added after the independent labels (issue 15 confusion list), one test per rule,
built from synthetic examples of our own: counselling read from the note, COVID-19
dose-specific administration, Medicare G0008/G0009 with CVX products, CVX 43 by age, ED E/M,
institutional billing providers, self-pay without coverage, wound repair codes, no E/M
inferred beside a minor procedure, modifier 25 with a vaccine administration, and unspecified
diagnosis codes kept when the documentation supports no more."""

from datetime import date, datetime, timezone

import pytest

from claimflow.models import EncounterEvent
from services.coder import em, notes, offline
from services.coder.offline import result_line

from .coder_helpers import NOW, SCT, dx, line_tokens, make_enc, px, reason_codes

CVX = "http://hl7.org/fhir/sid/cvx"
DOS = date(2022, 2, 8)


def _with(enc: EncounterEvent, **update) -> EncounterEvent:
    return enc.model_copy(update=update)


def _vax(*codes, dob, note=None, visit="procedure_only", plan="commercial", dxs=(), mdm=None, dos=DOS):
    enc = make_enc(visit=visit, dob=dob, dos=dos, plan=plan, dxs=dxs, mdm=mdm,
                   pxs=[px(c, "vaccine", CVX) for c in codes])
    return _with(enc, note_text=note)


# --- counselling in the note ----------------------------------------------------------------

@pytest.mark.parametrize("note,expected", [
    ("Dr Lee counseled mother on risks and benefits of each vaccine.", True),
    ("Vaccine counselling provided face to face by the pediatrician", True),
    ("Nurse practitioner counselled on immunizations; VIS handed out.", True),
    ("VIS given. Shots tolerated well.", False),  # no counselling statement
    ("Parent declined counseling about the vaccines.", False),  # negated
    ("RN counseled on vaccine side effects.", False),  # staff only, not a physician/QHP
    ("Counseled on diet and exercise. Vaccines given.", False),  # counselling not about vaccines
    (None, False),
])
def test_counselling_phrases(note, expected):
    assert notes.counselling_documented(note) is expected


def test_note_counselling_gives_90460_90461_through_age_18(coder):
    note = "Physician counseled the patient on the vaccine's benefits and risks."
    # age 18 on DOS: 90460 per vaccine, 90461 per further component (Td: 2 components)
    r = coder.code(_vax("113", "21", dob=date(2003, 12, 1), note=note), NOW)
    assert r.coded is not None, reason_codes(r)
    assert {ln.code: ln.units for ln in r.coded.service_lines if ln.code.startswith("904")} == {"90460": 2, "90461": 1}
    # the same note at age 19: counselling codes no longer apply
    r = coder.code(_vax("113", "21", dob=date(2002, 12, 1), note=note), NOW)
    assert [c for c in line_tokens(r) if c.startswith("904")] == ["90471", "90472"]
    # no counselling documented at age 10: 90471/90472
    r = coder.code(_vax("113", "21", dob=date(2011, 6, 1)), NOW)
    assert [c for c in line_tokens(r) if c.startswith("904")] == ["90471", "90472"]


# --- COVID-19 dose-specific administration ----------------------------------------------------

@pytest.mark.parametrize("note,dose", [("dose 2 today", 2), ("Second dose given", 2), ("1st dose", 1),
                                       ("booster administered", "booster"), ("single-dose vaccine", "single"),
                                       ("COVID vaccine given", None), ("first dose last month, second dose today", None)])
def test_dose_phrases(note, dose):
    assert notes.vaccine_dose(note) == dose


@pytest.mark.parametrize("cvx,note,admin", [("208", "dose #2 of the series", "0002A"), ("208", "booster", "0004A"),
                                            ("207", "third dose", "0013A"), ("212", "single dose", "0031A")])
def test_covid_dose_specific_administration(coder, cvx, note, admin):
    r = coder.code(_vax(cvx, dob=date(1960, 4, 4), note=note), NOW)
    assert r.coded is not None, reason_codes(r)
    codes = line_tokens(r)
    assert admin in codes and not any(c.startswith("9047") for c in codes)
    assert [d.code for d in r.coded.diagnoses] == ["Z23"]


def test_covid_without_a_dose_number_goes_to_review(coder):
    r = coder.code(_vax("208", dob=date(1960, 4, 4), note="COVID vaccine given"), NOW)
    assert "IMM_ADMIN_AMBIGUOUS" in reason_codes(r)
    r = coder.code(_vax("207", dob=date(1960, 4, 4), note="booster"), NOW)  # no booster code for this product here
    assert "IMM_ADMIN_AMBIGUOUS" in reason_codes(r)


def test_problem_em_with_a_vaccine_administration_takes_25(coder):
    r = coder.code(_vax("208", dob=date(1960, 4, 4), note="Dose 1 given.", visit="office", mdm="moderate",
                        dxs=[dx("E11.9", primary=True)]), NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r)[0] == "99214-25"


# --- Medicare influenza / pneumococcal, CVX 43 ------------------------------------------------

def test_medicare_high_dose_influenza_and_pneumococcal_take_g_codes(coder):
    r = coder.code(_vax("197", "33", dob=date(1948, 9, 9), plan="medicare"), NOW)
    assert r.coded is not None, reason_codes(r)
    assert sorted(line_tokens(r)) == ["90662", "90732", "G0008", "G0009"]
    r = coder.code(_vax("135", dob=date(1948, 9, 9), plan="commercial"), NOW)
    assert sorted(line_tokens(r)) == ["90471", "90662"]


def test_adult_hepatitis_b_cvx_43_by_age(coder):
    r = coder.code(_vax("43", dob=date(1980, 1, 1)), NOW)
    assert r.coded is not None and "90746" in line_tokens(r)
    r = coder.code(_vax("43", dob=date(2008, 1, 1)), NOW)  # 14: the 2-dose adolescent schedule is possible
    assert "IMM_PRODUCT_AMBIGUOUS" in reason_codes(r)


# --- emergency department E/M ------------------------------------------------------------------

@pytest.mark.parametrize("mdm,code", [("straightforward", "99282"), ("low", "99283"), ("moderate", "99284"), ("high", "99285")])
def test_ed_em_by_mdm_for_new_and_established(coder, mdm, code):
    for status in ("new", "established"):
        r = coder.code(make_enc(pos="23", mdm=mdm, status=status, dxs=[dx("R10.9", primary=True)]), NOW)
        assert r.coded is not None, reason_codes(r)
        assert line_tokens(r) == [code]


def test_ed_em_needs_mdm_not_time(coder):
    r = coder.code(make_enc(pos="23", minutes=50, dxs=[dx("R10.9", primary=True)]), NOW)
    assert "EM_UNSUPPORTED" not in reason_codes(r) and "MISSING_DOCUMENTATION" in reason_codes(r)
    assert em.select_ed_level(None, 50).code is None


def test_urgent_care_stays_office_em(coder):
    r = coder.code(make_enc(pos="20", mdm="low", status="new", dxs=[dx("J02.9", primary=True)]), NOW)
    assert line_tokens(r) == ["99203"]


# --- institutional billing provider, self-pay ------------------------------------------------

@pytest.fixture(scope="module")
def pipe(coder):
    from services.scrubber.logic import Scrubber, ScrubReference
    return offline.Pipeline(coder, Scrubber(ScrubReference.load(icd_catalogue=coder.ref.catalogue)))


@pytest.mark.parametrize("taxonomy,institutional", [("282N00000X", True), ("314000000X", True), ("251E00000X", True),
                                                    ("207P00000X", False), ("207Q00000X", False), (None, False)])
def test_facility_billing_provider_is_institutional(coder, pipe, taxonomy, institutional):
    enc = make_enc(pos="21", visit="other", dxs=[dx("I50.9", primary=True)])
    enc = _with(enc, billing_provider=enc.billing_provider.model_copy(update={"taxonomy": taxonomy}))
    assert coder.institutional(enc) is institutional
    out = result_line(pipe, enc, {}, datetime(2026, 10, 15, tzinfo=timezone.utc))
    if institutional:
        assert out["outcome"] == "institutional" and out["claim_type"] == "institutional"
        assert [r["code"] for r in out["review_reasons"]] == ["INSTITUTIONAL_CLAIM"]
    else:
        assert out["outcome"] != "institutional"


def test_event_without_coverage_is_self_pay(pipe):
    enc = _with(make_enc(mdm="low", dxs=[dx("J02.9", primary=True)]), coverage=None)
    out = result_line(pipe, enc, {}, NOW)
    assert out["outcome"] == "self-pay" and out["claim"] is None and out["codes"]["service_lines"]
    # FHIR input: the mapping's own verdict wins (coverage missing but insurance named: not self-pay)
    assert result_line(pipe, enc, {"self_pay": False}, NOW)["outcome"] == "auto-coded"


# --- procedures --------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["12002", "12004", "12013"])
def test_simple_repair_codes_are_known(coder, code):
    r = coder.code(make_enc(visit="procedure_only", dxs=[dx("S51.811A", primary=True)], pxs=[px(code, "wound repair")]), NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r) == [code]


def test_no_em_inferred_beside_a_minor_procedure_without_a_separate_problem(coder):
    r = coder.code(make_enc(pos="20", mdm="low", status="new", dxs=[dx("S51.811A", primary=True)], pxs=[px("12002")]), NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r) == ["12002"]
    # a separate problem managed the same day: the E/M stays, with 25
    r = coder.code(make_enc(pos="20", mdm="low", status="new", dxs=[dx("S51.811A", primary=True), dx("I10")],
                            pxs=[px("12002")]), NOW)
    assert line_tokens(r) == ["99203-25", "12002"]


# --- unspecified codes are kept (ICD-10-CM guidelines I.B.13, I.B.18) --------------------------

def test_concepts_mapped_to_unspecified_codes_are_coded_not_queried(coder, ref):
    """An unspecified code is the right code when the documentation supports no more (I.B.18;
    laterality not documented: the unspecified side, I.B.13): a map row to one is coded
    without a query. Rows that need a missing axis carry status needs_specificity instead."""
    dos = date(2024, 3, 5)
    cs = ref.code_set_for(dos).code_set
    rows = [r for r in ref.snomed_dx.values() if r.status == "map" and r.targets and r.confidence >= coder.threshold
            and "unspecified" in (cs.description(r.target_for(cs) or r.targets[0]) or "").lower()]
    assert len(rows) >= 5
    for row in rows:
        r = coder.code(make_enc(dos=dos, mdm="low", dxs=[dx(row.snomed_code, row.description, system=SCT, primary=True)]), NOW)
        assert r.coded is not None, (row.snomed_code, reason_codes(r))
        assert r.coded.diagnoses[0].rule_id == "DX-MAP-001"


# --- influenza product by dose volume / by age before CPT 2017 ----------------------------------

def test_influenza_under_three_by_age_before_2017_and_by_volume_after(coder):
    dob = date(2015, 5, 1)
    # 2016: the code set of that year may not be loaded, so read the coder's lines either way
    r = coder.code(_vax("150", dob=dob, dos=date(2016, 10, 20)), NOW)
    assert "IMM_PRODUCT_AMBIGUOUS" not in reason_codes(r)
    lines = r.coded.service_lines if r.coded else r.review.proposed_service_lines
    assert sorted(ln.code for ln in lines) == ["90471", "90685"]
    dob = date(2018, 5, 1)
    r = coder.code(_vax("150", dob=dob, dos=date(2019, 10, 20)), NOW)  # after 2017 the dosage decides
    assert "IMM_PRODUCT_AMBIGUOUS" in reason_codes(r)
    assert [c for c in r.review.reasons if c.code == "IMM_PRODUCT_AMBIGUOUS"][0].candidates == ["90685", "90686"]
    # the administration is still proposed for the vaccine under review
    assert "90471" in [ln.code for ln in r.review.proposed_service_lines]
    r = coder.code(_vax("150", dob=dob, dos=date(2019, 10, 20), note="Flu vaccine 0.5 mL IM given"), NOW)
    assert r.coded is not None, reason_codes(r)
    assert sorted(line_tokens(r)) == ["90471", "90686"]
    r = coder.code(_vax("150", dob=dob, dos=date(2019, 10, 20), note="0.25 mL dose"), NOW)
    assert sorted(line_tokens(r)) == ["90471", "90685"]
    r = coder.code(_vax("150", dob=date(2014, 5, 1), dos=date(2019, 10, 20)), NOW)  # age 5: only 0.5 mL
    assert sorted(line_tokens(r)) == ["90471", "90686"]
