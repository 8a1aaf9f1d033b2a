"""Rules added for real EHR exports: preventive visits with documented problems, COVID-19
before the U07.1 addendum (B97.29 never first-listed), and the new SNOMED/CVX map families."""

from datetime import date

from .coder_helpers import NOW, SCT, dx, line_tokens, make_enc, px, reason_codes

DOS = date(2026, 3, 10)


def test_preventive_with_only_status_codes_is_without_abnormal_findings(coder):
    # ex-smoker (Z87.891) and a BMI code are status/history codes, not exam findings
    enc = make_enc(visit="preventive", dob=date(1980, 1, 1), pxs=[px("185349003", "check up", SCT)],
                   dxs=[dx("8517006", "ex-smoker", SCT), dx("Z68.25", "BMI 25")])
    r = coder.code(enc, NOW)
    assert r.coded is not None, reason_codes(r)
    assert [d.code for d in r.coded.diagnoses] == ["Z00.00", "Z87.891", "Z68.25"]
    assert line_tokens(r) == ["99396"]


def test_preventive_with_a_problem_names_both_z00_candidates(coder):
    enc = make_enc(visit="preventive", dob=date(1980, 1, 1), pxs=[px("185349003", "check up", SCT)],
                   dxs=[dx("I10", "hypertension")])
    r = coder.code(enc, NOW)
    assert r.coded is None
    [reason] = [x for x in r.review.reasons if x.code == "DX_PREVENTIVE_FINDINGS"]
    assert reason.candidates == ["Z00.00", "Z00.01"] and "I10" in reason.message
    assert "DX_LOW_CONFIDENCE" not in reason_codes(r)  # one specific reason, not a generic one
    child = coder.code(make_enc(visit="preventive", dob=date(2019, 1, 1), dxs=[dx("J45.909", "asthma")]), NOW)
    [reason] = [x for x in child.review.reasons if x.code == "DX_PREVENTIVE_FINDINGS"]
    assert reason.candidates == ["Z00.129", "Z00.121"]


def test_covid_before_the_u071_addendum_is_b9729_after_its_manifestation(coder):
    dxs = [dx("840539006", "COVID-19", SCT, primary=True), dx("386661006", "fever", SCT), dx("49727002", "cough", SCT)]
    before = coder.code(make_enc(dos=date(2020, 3, 31), minutes=25, dxs=dxs), NOW)
    assert before.coded is not None, reason_codes(before)
    assert [d.code for d in before.coded.diagnoses] == ["R50.9", "R05", "B97.29"]  # FY2020: R05 not yet split
    on = coder.code(make_enc(dos=date(2020, 4, 1), minutes=25, dxs=dxs), NOW)
    assert on.coded is not None and on.coded.diagnoses[0].code == "U07.1"


def test_b9729_alone_is_a_sequencing_review(coder):
    r = coder.code(make_enc(dos=date(2020, 3, 2), minutes=25, dxs=[dx("840539006", "COVID-19", SCT, primary=True)]), NOW)
    assert "DX_SEQUENCING" in reason_codes(r)


def test_screening_and_assessment_concepts_are_not_review_reasons(coder):
    # included in the preventive service (ignore rows, each with its rule) or a standardized instrument (96127)
    pxs = [px("185349003", "check up", SCT), px("454711000124102", "PHQ-2", SCT), px("428211000124100", "substance use", SCT),
           px("866148006", "domestic abuse screening", SCT), px("763302001", "AUDIT-C", SCT), px("61746007", "vitals", SCT),
           px("428191000124101", "current medications", SCT), px("386516004", "anticipatory guidance", SCT)]
    r = coder.code(make_enc(visit="preventive", dob=date(1980, 1, 1), pxs=pxs), NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r) == ["99396", "96127"]


def test_office_procedure_families_map_or_name_what_is_missing(coder, ref):
    tb = coder.code(make_enc(minutes=None, visit="procedure_only", dxs=[dx("Z11.1", "TB screening", primary=True)],
                             pxs=[px("28163009", "TB skin test", SCT)]), NOW)
    assert tb.coded is not None and line_tokens(tb) == ["86580"], reason_codes(tb)
    iud = coder.code(make_enc(visit="procedure_only", dxs=[dx("Z30.430", "IUD insertion", primary=True)],
                              pxs=[px("65200003", "IUD insertion", SCT)]), NOW)
    assert iud.coded is not None and line_tokens(iud) == ["58300"], reason_codes(iud)
    suture = coder.code(make_enc(visit="procedure_only", dxs=[dx("S51.811A", "laceration", primary=True)],
                                 pxs=[px("288086009", "suture", SCT)]), NOW)
    assert "PROC_SNOMED_NEEDS_SPECIFICITY" in reason_codes(suture)
    for row in ref.snomed_px.values():
        assert row.note, row.snomed_code  # every row names its rule


def test_new_condition_rows_follow_the_code_set_by_year(coder):
    r = coder.code(make_enc(dos=date(2019, 5, 1), minutes=25, dxs=[dx("714628002", "prediabetes", SCT, primary=True)]), NOW)
    assert r.coded is not None and [d.code for d in r.coded.diagnoses] == ["R73.03"]  # FY2019 loaded
    r = coder.code(make_enc(dos=date(2018, 9, 30), minutes=25, dxs=[dx("714628002", "prediabetes", SCT, primary=True)]), NOW)
    assert "DX_CODE_SET_UNAVAILABLE" in reason_codes(r)  # FY2018: no registry package carries it


def test_symptoms_integral_to_confirmed_covid_are_left_out(coder):
    dxs = [dx("840539006", "COVID-19", SCT, primary=True), dx("386661006", "fever", SCT), dx("49727002", "cough", SCT),
           dx("56018004", "wheezing", SCT), dx("R50.9", "fever documented in ICD-10-CM")]
    r = coder.code(make_enc(dos=date(2021, 2, 1), minutes=25, dxs=dxs), NOW)
    assert r.coded is not None, reason_codes(r)
    # mapped fever/cough are integral (guideline I.B.5); wheezing is not on the list; the documented R50.9 stays
    assert [d.code for d in r.coded.diagnoses] == ["U07.1", "R06.2", "R50.9"]
