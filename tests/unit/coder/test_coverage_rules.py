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
