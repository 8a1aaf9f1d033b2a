"""Preventive visits by age band, modifier 25, CVX vaccines and their administration codes."""

from datetime import date

import pytest

from services.coder import em

from .coder_helpers import NOW, SCT, dx, line_tokens, make_enc, px, reason_codes

CVX = "http://hl7.org/fhir/sid/cvx"
DOS = date(2026, 3, 10)


def _birthday(age: int, days_before: int = 0) -> date:
    """A date of birth that makes the patient ``age`` on DOS (days_before=1: one day short)."""
    dob = date(DOS.year - age, DOS.month, DOS.day)
    if days_before:
        dob = date(dob.year, dob.month, dob.day + days_before)
    return dob


# age on DOS -> (new, established); the boundary ages of the bands <1, 1-4, 5-11, 12-17, 18-39, 40-64, 65+
BANDS = [(1, "99382", "99392", "99381", "99391"), (5, "99383", "99393", "99382", "99392"),
         (12, "99384", "99394", "99383", "99393"), (18, "99385", "99395", "99384", "99394"),
         (40, "99386", "99396", "99385", "99395"), (65, "99387", "99397", "99386", "99396")]


@pytest.mark.parametrize("age,new_on,est_on,new_before,est_before", BANDS)
def test_age_band_boundaries_on_and_the_day_before_the_birthday(age, new_on, est_on, new_before, est_before):
    from claimflow.models import PatientStatus
    on, before = _birthday(age), _birthday(age, days_before=1)
    assert em.age_on(on, DOS) == age and em.age_on(before, DOS) == age - 1
    assert em.preventive_code(PatientStatus.NEW, on, DOS).code == new_on
    assert em.preventive_code(PatientStatus.ESTABLISHED, on, DOS).code == est_on
    assert em.preventive_code(PatientStatus.NEW, before, DOS).code == new_before
    assert em.preventive_code(PatientStatus.ESTABLISHED, before, DOS).code == est_before


def test_infant_band_is_under_one():
    from claimflow.models import PatientStatus
    assert em.preventive_code(PatientStatus.ESTABLISHED, date(2025, 6, 1), DOS).code == "99391"
    assert em.preventive_code(PatientStatus.NEW, date(2026, 3, 1), DOS).code == "99381"


def test_well_child_visit_concept_confirms_the_inferred_code(coder):
    enc = make_enc(visit="preventive", dob=_birthday(7), pxs=[px("410620009", "Well child visit", SCT)])
    r = coder.code(enc, NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r) == ["99393"]
    assert [d.code for d in r.coded.diagnoses] == ["Z00.129"]


def test_adult_preventive_gets_the_adult_z00(coder):
    r = coder.code(make_enc(visit="preventive", dob=_birthday(45), pxs=[px("185349003", "Encounter for check up", SCT)]), NOW)
    assert line_tokens(r) == ["99396"] and [d.code for d in r.coded.diagnoses] == ["Z00.00"]


def test_problem_em_on_a_preventive_day_takes_modifier_25(coder):
    enc = make_enc(visit="preventive", dob=_birthday(30), minutes=25,
                   dxs=[dx("I10", primary=True)], pxs=[px("99213", "problem visit", charge="110.00")])
    r = coder.code(enc, NOW)
    tokens = line_tokens(r) if r.coded else [ln.code + "".join("-" + m for m in ln.modifiers) for ln in r.review.proposed_service_lines]
    assert "99395" in tokens and "99213-25" in tokens


def test_preventive_visit_without_status_is_reviewed_not_guessed(coder):
    r = coder.code(make_enc(visit="preventive", status="unknown", dob=_birthday(7)), NOW)
    assert r.coded is None and "MISSING_DOCUMENTATION" in reason_codes(r)
    assert any("new/established" in x.message for x in r.review.reasons)


# --- immunizations ------------------------------------------------------------------------


def _vaccine_visit(age, *cvx, counsel=False, plan="commercial"):
    pxs = [px(c, "vaccine", CVX) for c in cvx]
    if counsel:
        pxs.append(px("409063005", "Counseling", SCT))
    return make_enc(visit="preventive", dob=_birthday(age), plan=plan, pxs=[px("410620009", "Well child visit", SCT), *pxs])


def test_90460_at_18_with_counselling_and_90471_at_19(coder):
    at18 = coder.code(_vaccine_visit(18, "115", counsel=True), NOW)  # Tdap: three components
    assert at18.coded is not None, reason_codes(at18)
    assert line_tokens(at18) == ["99395", "90715", "90460", "90461"]
    assert [ln.units for ln in at18.coded.service_lines if ln.code == "90461"] == [2]
    at19 = coder.code(_vaccine_visit(19, "115", counsel=True), NOW)
    assert line_tokens(at19) == ["99395", "90715", "90471"]
    assert "Z23" in [d.code for d in at19.coded.diagnoses]


def test_child_without_documented_counselling_gets_90471_90472(coder):
    r = coder.code(_vaccine_visit(1, "03", "21", "83"), NOW)  # MMR, varicella, hep A
    assert line_tokens(r) == ["99392", "90707", "90716", "90633", "90471", "90472"]
    assert [ln.units for ln in r.coded.service_lines if ln.code == "90472"] == [2]
    assert [d.code for d in r.coded.diagnoses] == ["Z00.129", "Z23"]


def test_oral_vaccine_alone_is_90473_and_with_an_injection_90474(coder):
    alone = coder.code(_vaccine_visit(0, "119"), NOW)
    assert line_tokens(alone) == ["99391", "90681", "90473"]
    both = coder.code(_vaccine_visit(0, "119", "20"), NOW)
    assert line_tokens(both) == ["99391", "90681", "90700", "90471", "90474"]


def test_influenza_cvx_140_by_age(coder):
    adult = coder.code(_vaccine_visit(30, "140"), NOW)
    assert line_tokens(adult) == ["99395", "90656", "90471"]
    toddler = coder.code(_vaccine_visit(2, "140"), NOW)
    assert toddler.coded is None and "IMM_PRODUCT_AMBIGUOUS" in reason_codes(toddler)
    amb = next(x for x in toddler.review.reasons if x.code == "IMM_PRODUCT_AMBIGUOUS")
    assert amb.candidates == ["90655", "90656"]


def test_medicare_influenza_admin_is_g0008(coder):
    r = coder.code(_vaccine_visit(70, "140", plan="medicare"), NOW)
    assert line_tokens(r) == ["99397", "90656", "G0008"]


def test_covid_vaccine_never_takes_the_generic_admin_code(coder):
    r = coder.code(_vaccine_visit(40, "208"), NOW)
    assert r.coded is None and "IMM_ADMIN_AMBIGUOUS" in reason_codes(r)
    assert all(ln.code not in {"90471", "90460"} for ln in r.review.proposed_service_lines)
    reason = next(x for x in r.review.reasons if x.code == "IMM_ADMIN_AMBIGUOUS")
    assert reason.candidates == ["0001A", "0002A", "0003A", "0004A"]
    # a 2023-formula product documented in CPT: the single COVID-19 administration code
    r = coder.code(make_enc(visit="preventive", dob=_birthday(40), pxs=[px("91320", "covid vaccine")]), NOW)
    assert line_tokens(r) == ["99396", "91320", "90480"]


def test_unknown_cvx_goes_to_review_with_candidates(coder):
    r = coder.code(make_enc(visit="preventive", dob=_birthday(40), pxs=[px("999", "zoster vaccine recombinant", CVX)]), NOW)
    assert r.coded is None and "IMM_NO_PRODUCT_MATCH" in reason_codes(r)
    reason = next(x for x in r.review.reasons if x.code == "IMM_NO_PRODUCT_MATCH")
    assert "90750" in reason.candidates
    bad = coder.code(make_enc(visit="preventive", dob=_birthday(40), pxs=[px("14A", "vaccine", CVX)]), NOW)
    assert "PROC_INVALID_FORMAT" in reason_codes(bad)


def test_admin_concept_without_a_vaccine_is_reviewed(coder):
    r = coder.code(make_enc(visit="preventive", dob=_birthday(40), pxs=[px("33879002", "Vaccine administration", SCT)]), NOW)
    assert r.coded is None and "IMM_NO_PRODUCT_MATCH" in reason_codes(r)


# --- bad input ---------------------------------------------------------------------------


def test_unknown_code_systems_are_named(coder):
    r = coder.code(make_enc(minutes=25, dxs=[dx("123", "x", "http://example.org/local-codes", True)],
                            pxs=[px("A1", "y", "http://example.org/local-px")]), NOW)
    msgs = {x.code: x.message for x in r.review.reasons}
    assert "http://example.org/local-codes" in msgs["DX_UNSUPPORTED_SYSTEM"]
    assert "http://example.org/local-px" in msgs["PROC_UNSUPPORTED_SYSTEM"]
    r = coder.code(make_enc(minutes=25, dxs=[dx("12ab", "x", SCT, True)]), NOW)
    assert "DX_INVALID_FORMAT" in reason_codes(r)


def test_year_not_loaded_is_not_called_a_missing_diagnosis(coder):
    r = coder.code(make_enc(visit="preventive", dos=date(2014, 5, 1), dob=date(2010, 1, 1)), NOW)
    assert "DOS_BEFORE_ICD10" in reason_codes(r)  # its own outcome: the ICD-9-CM era
    r2 = coder.code(make_enc(visit="preventive", dos=date(2017, 5, 1), dob=date(2010, 1, 1)), NOW)
    assert "DX_CODE_SET_UNAVAILABLE" in reason_codes(r2) and not any("no reportable diagnosis" in x.message for x in r2.review.reasons)
    assert not any("no reportable diagnosis" in x.message for x in r.review.reasons)
    assert any("ICD-9-CM" in x.message for x in r.review.reasons)
