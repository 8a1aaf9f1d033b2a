"""The coder end to end on single encounters: every rule of the issue."""

from datetime import date
from decimal import Decimal

import pytest

from claimflow.models import ChargeSource, Provenance
from services.coder import logic
from services.coder.logic import Coder

from .coder_helpers import HCPCS, NOW, SCT, dx, line_tokens, make_enc, px, reason_codes


def one_of(result):
    assert (result.coded is None) != (result.review is None)
    return result


# --- diagnoses -------------------------------------------------------------------------------

def test_documented_icd_codes_cleanly(coder):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx("E11.9", primary=True), dx("I10")]), NOW))
    d = r.coded.diagnoses
    assert [x.code for x in d] == ["E11.9", "I10"]
    assert d[0].provenance == Provenance.DOCUMENTED and d[0].confidence == 1.0 and d[0].rule_id == "DX-DOC-001"
    assert "FY2026" in d[0].code_set_version


def test_header_code_goes_to_review_with_billable_children(coder):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx("E11", primary=True)]), NOW))
    reason = next(x for x in r.review.reasons if x.code == "DX_HEADER_CODE")
    assert "E11.9" in reason.candidates and all(c.startswith("E11.") for c in reason.candidates)
    assert not r.review.proposed_diagnoses  # never a silent pick


def test_seventh_character_missing_is_a_header(coder):
    r = coder.code(make_enc(minutes=25, dxs=[dx("S93.401", primary=True)]), NOW)
    reason = next(x for x in r.review.reasons if x.code == "DX_HEADER_CODE")
    assert "S93.401A" in reason.candidates


def test_unknown_icd_code(coder):
    assert "DX_UNKNOWN_CODE" in reason_codes(coder.code(make_enc(minutes=25, dxs=[dx("E11.99", primary=True)]), NOW))


def test_dos_in_previous_fiscal_year_is_judged_by_its_own_year(coder, prev_fy):
    dos = date(2025, 9, 30)  # last day of FY2025
    ok = one_of(coder.code(make_enc(dos=dos, minutes=25, dxs=[dx("I10", primary=True)]), NOW))
    assert ok.coded.diagnoses[0].code_set_version.startswith("ICD-10-CM FY2025")
    # E11.A only exists from FY2026 on
    bad = coder.code(make_enc(dos=dos, minutes=25, dxs=[dx("E11.A", primary=True)]), NOW)
    reason = next(x for x in bad.review.reasons if x.code == "DX_INVALID_FOR_DOS_YEAR")
    assert "FY2025" in reason.message and "FY2026" in reason.message
    assert coder.code(make_enc(dos=date(2025, 10, 1), minutes=25, dxs=[dx("E11.A", primary=True)]), NOW).coded is not None


def test_code_deleted_in_the_current_year(coder, prev_fy):
    enc_old = make_enc(dos=date(2025, 6, 1), minutes=25, dxs=[dx("S30.1XXA", primary=True)])
    enc_new = make_enc(dos=date(2026, 6, 1), minutes=25, dxs=[dx("S30.1XXA", primary=True)])
    assert coder.code(enc_old, NOW).coded is not None
    assert "DX_INVALID_FOR_DOS_YEAR" in reason_codes(coder.code(enc_new, NOW))


def test_snomed_mapped_with_confidence_and_provenance(coder):
    # (a mapped fever would be left out: integral to confirmed COVID-19, rule DX-INT-001)
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx("840539006", "COVID-19", SCT, True), dx("56018004", "Wheezing", SCT)]), NOW))
    assert [d.code for d in r.coded.diagnoses] == ["U07.1", "R06.2"]
    d = r.coded.diagnoses[0]
    assert d.provenance == Provenance.MAPPED and d.rule_id == "DX-MAP-001" and d.source_code == "840539006"
    assert 0.9 <= d.confidence < 1.0 and "snomed_icd10cm@" in d.code_set_version


def test_unmapped_snomed_goes_to_review_never_guessed(coder):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx("271594007", "Syncope", SCT, True)]), NOW))
    assert "DX_UNMAPPED_SNOMED" in reason_codes(r)
    assert r.review.proposed_diagnoses == []
    reason = next(x for x in r.review.reasons if x.code == "DX_UNMAPPED_SNOMED")
    assert reason.candidates  # suggestions for the human, not a code on the claim


def test_snomed_finding_ignored_with_reason_and_social_z_code(coder, ref):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx("160903007", "Full-time employment", SCT, True), dx("I10")]), NOW))
    assert [d.code for d in r.coded.diagnoses] == ["I10"]
    assert ref.snomed_dx["314529007"].status == "ignore" and ref.snomed_dx["314529007"].note
    assert ref.snomed_dx["73438004"].icd10cm == "Z56.0"


def test_snomed_needing_specificity_goes_to_review(coder):
    assert "DX_SNOMED_NEEDS_SPECIFICITY" in reason_codes(coder.code(make_enc(minutes=25, dxs=[dx("44465007", "Sprain of ankle", SCT, True)]), NOW))


def test_free_text_exact_official_description_codes(coder):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx(None, "Essential (primary) hypertension", primary=True)]), NOW))
    d = r.coded.diagnoses[0]
    assert d.code == "I10" and d.provenance == Provenance.INFERRED and d.rule_id == "DX-TXT-001"


def test_free_text_vague_goes_to_review_with_candidates(coder):
    r = one_of(coder.code(make_enc(minutes=25, dxs=[dx(None, "pain in the right knee after a fall", primary=True)]), NOW))
    reason = next(x for x in r.review.reasons if x.code == "DX_LOW_CONFIDENCE")
    assert len(reason.candidates) >= 2


# --- E/M -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status,minutes,code", [
    ("established", 29, "99213"), ("established", 30, "99214"), ("established", 39, "99214"), ("established", 40, "99215"),
    ("established", 10, "99212"), ("new", 29, "99202"), ("new", 30, "99203"), ("new", 44, "99203"), ("new", 45, "99204"),
    ("new", 59, "99204"), ("new", 60, "99205"), ("new", 15, "99202"),
])
def test_em_from_time_at_exact_boundaries(coder, status, minutes, code):
    r = one_of(coder.code(make_enc(status=status, minutes=minutes, dxs=[dx("I10", primary=True)]), NOW))
    line = r.coded.service_lines[0]
    assert line.code == code and line.rule_id == "EM-TIME-001" and line.provenance == Provenance.INFERRED


def test_em_below_lowest_threshold_is_unsupported(coder):
    assert "EM_UNSUPPORTED" in reason_codes(coder.code(make_enc(minutes=9, dxs=[dx("I10", primary=True)]), NOW))


def test_em_higher_of_time_and_mdm(coder):
    r = coder.code(make_enc(minutes=25, mdm="moderate", dxs=[dx("I10", primary=True)]), NOW)
    assert r.coded.service_lines[0].code == "99214" and r.coded.service_lines[0].rule_id == "EM-MDM-001"


def test_documented_em_above_support_goes_to_review(coder):
    r = coder.code(make_enc(minutes=29, dxs=[dx("I10", primary=True)], pxs=[px("99214")]), NOW)
    reason = next(x for x in r.review.reasons if x.code == "EM_UNSUPPORTED")
    assert reason.candidates == ["99213"]


def test_documented_em_supported(coder):
    r = coder.code(make_enc(minutes=30, dxs=[dx("I10", primary=True)], pxs=[px("99214", charge="160.00")]), NOW)
    line = r.coded.service_lines[0]
    assert line.rule_id == "EM-DOC-001" and line.charge_source == ChargeSource.DOCUMENTED and line.charge == Decimal("160.00")


def test_99211_has_no_time_requirement(coder):
    assert coder.code(make_enc(dxs=[dx("I10", primary=True)], pxs=[px("99211")]), NOW).coded is not None
    assert "EM_UNSUPPORTED" in reason_codes(coder.code(make_enc(status="new", dxs=[dx("I10", primary=True)], pxs=[px("99211")]), NOW))


def test_missing_documentation(coder):
    assert "MISSING_DOCUMENTATION" in reason_codes(coder.code(make_enc(dxs=[dx("I10", primary=True)]), NOW))
    assert "MISSING_DOCUMENTATION" in reason_codes(coder.code(make_enc(minutes=30, dxs=[]), NOW))
    assert "MISSING_DOCUMENTATION" in reason_codes(coder.code(make_enc(status="unknown", minutes=30, dxs=[dx("I10")]), NOW))


def test_preventive_visit_by_age_band_with_inferred_z00(coder):
    r = one_of(coder.code(make_enc(visit="preventive", dob=date(1980, 1, 1)), NOW))
    assert line_tokens(r) == ["99396"]
    assert r.coded.diagnoses[0].code == "Z00.00" and r.coded.diagnoses[0].provenance == Provenance.INFERRED
    child = coder.code(make_enc(visit="preventive", status="new", dob=date(2019, 1, 1)), NOW)
    assert line_tokens(child) == ["99383"] and child.coded.diagnoses[0].code == "Z00.129"


def test_preventive_documented_code_wrong_age_band(coder):
    r = coder.code(make_enc(visit="preventive", dob=date(2015, 1, 1), dxs=[dx("Z00.129", primary=True)], pxs=[px("99396")]), NOW)
    reason = next(x for x in r.review.reasons if x.code == "EM_UNSUPPORTED")
    assert reason.candidates == ["99393"]  # age 11 on the DOS


def test_telehealth_adds_95_and_prolonged_time(coder):
    r = coder.code(make_enc(visit="telehealth", pos="10", minutes=22, dxs=[dx("F41.1", primary=True)]), NOW)
    assert line_tokens(r) == ["99213-95"]
    r = coder.code(make_enc(minutes=71, dxs=[dx("I10", primary=True)]), NOW)
    assert line_tokens(r) == ["99215", "99417"] and r.coded.service_lines[1].units == 2
    r = coder.code(make_enc(minutes=71, plan="medicare", dxs=[dx("I10", primary=True)]), NOW)
    assert line_tokens(r) == ["99215", "G2212"] and r.coded.service_lines[1].units == 1


# --- procedures ------------------------------------------------------------------------------

def test_modifier_25_on_em_with_minor_procedure(coder):
    r = one_of(coder.code(make_enc(minutes=24, dxs=[dx("I10", primary=True), dx("L98.9")], pxs=[px("11102")]), NOW))
    assert line_tokens(r) == ["99213-25", "11102"]
    biopsy = r.coded.service_lines[1]
    assert biopsy.diagnosis_pointers == [2]  # points at the skin diagnosis that justifies it


def test_no_separate_problem_no_em(coder):
    # the evaluation leading to the minor procedure is in its global package: no E/M inferred
    r = coder.code(make_enc(minutes=24, dxs=[dx("L98.9", primary=True)], pxs=[px("11102")]), NOW)
    assert r.coded is not None, reason_codes(r)
    assert line_tokens(r) == ["11102"]


def test_modifier_25_only_on_em(coder):
    r = coder.code(make_enc(visit="procedure_only", dxs=[dx("B07.9", primary=True)], pxs=[px("17110", modifiers=["25"])]), NOW)
    assert "PROC_INVALID_MODIFIER" in reason_codes(r)


@pytest.mark.parametrize("lat,mod", [("right", "RT"), ("left", "LT"), ("bilateral", "50")])
def test_laterality_modifiers(coder, lat, mod):
    r = coder.code(make_enc(visit="procedure_only", dxs=[dx("M17.9", primary=True)],
                            pxs=[px("20610", laterality=lat, units=2 if lat == "bilateral" else 1)]), NOW)
    line = r.coded.service_lines[0]
    assert line.modifiers == [mod] and line.units == 1


def test_units_and_hcpcs(coder):
    r = coder.code(make_enc(visit="procedure_only", dxs=[dx("M17.9", primary=True)],
                            pxs=[px("20610", laterality="right"), px("J3301", system=HCPCS, units=4)]), NOW)
    j = r.coded.service_lines[1]
    assert j.code_type.value == "hcpcs" and j.units == 4 and j.charge == Decimal("20.00") and j.charge_source == ChargeSource.FEE_SCHEDULE


def test_unknown_and_malformed_procedures(coder):
    assert "PROC_UNKNOWN_CODE" in reason_codes(coder.code(make_enc(visit="procedure_only", dxs=[dx("L72.3", primary=True)], pxs=[px("11401")]), NOW))
    assert "PROC_UNKNOWN_CODE" in reason_codes(coder.code(make_enc(minutes=22, dxs=[dx("I10", primary=True)], pxs=[px("K9999", system=HCPCS)]), NOW))
    assert "PROC_INVALID_FORMAT" in reason_codes(coder.code(make_enc(minutes=22, dxs=[dx("I10", primary=True)], pxs=[px("9921")]), NOW))


def test_snomed_procedures(coder):
    r = coder.code(make_enc(minutes=31, dxs=[dx("R07.9", primary=True)], pxs=[px("29303009", "ECG", system=SCT)]), NOW)
    assert line_tokens(r) == ["99214", "93000"] and r.coded.service_lines[1].provenance == Provenance.MAPPED
    r = coder.code(make_enc(minutes=24, dxs=[dx("U07.1", primary=True)], pxs=[px("261352009", "Face mask", system=SCT)]), NOW)
    assert line_tokens(r) == ["99213"]
    assert "PROC_SNOMED_NEEDS_SPECIFICITY" in reason_codes(coder.code(make_enc(minutes=24, dxs=[dx("K63.5", primary=True)], pxs=[px("73761001", system=SCT)]), NOW))
    assert "PROC_UNMAPPED_SNOMED" in reason_codes(coder.code(make_enc(minutes=24, dxs=[dx("I10", primary=True)], pxs=[px("1111000", system=SCT)]), NOW))


def test_vaccine_infers_z23_and_points_to_it(coder):
    r = coder.code(make_enc(minutes=25, dxs=[dx("I10", primary=True)], pxs=[px("90715"), px("90471")]), NOW)
    assert [d.code for d in r.coded.diagnoses] == ["I10", "Z23"]
    assert r.coded.service_lines[1].diagnosis_pointers == [2]


# --- sequencing, pointers, charges --------------------------------------------------------------

def test_primary_first_and_at_most_12_and_4_pointers(coder):
    many = ["E78.5", "I10", "E11.9", "J45.909", "F41.1", "K21.9", "E03.9", "M54.50", "G47.00", "E66.9", "R51.9", "N39.0", "J02.9", "F32.A"]
    r = coder.code(make_enc(minutes=45, dxs=[dx(c, primary=(c == "E11.9")) for c in many]), NOW)
    codes = [d.code for d in r.coded.diagnoses]
    assert codes[0] == "E11.9" and len(codes) == 12 and [d.sequence for d in r.coded.diagnoses] == list(range(1, 13))
    assert r.coded.service_lines[0].diagnosis_pointers == [1, 2, 3, 4]


def test_procedure_without_supporting_dx_goes_to_review(coder):
    assert "PROC_DX_MISMATCH" in reason_codes(coder.code(make_enc(minutes=22, dxs=[dx("I10", primary=True)], pxs=[px("87880")]), NOW))


def test_charges_from_fee_schedule_when_absent(coder):
    r = coder.code(make_enc(minutes=35, dxs=[dx("I10", primary=True)]), NOW)
    line = r.coded.service_lines[0]
    assert line.charge == Decimal("160.00") and line.charge_source == ChargeSource.FEE_SCHEDULE


# --- human correction, threshold, output shape, PHI -------------------------------------------

def test_human_corrected_version_codes_cleanly(coder):
    first = coder.code(make_enc(minutes=25, dxs=[dx("E11", primary=True)]), NOW)
    assert first.review is not None
    fixed = make_enc(version=2, minutes=25, dxs=[dx("E11.65", primary=True)], pxs=[px("99213", charge="110.00")])
    r = one_of(coder.code(fixed, NOW))
    assert r.coded.encounter_version == 2
    assert r.coded.diagnoses[0].provenance == Provenance.REVIEWED and r.coded.confidence >= 0.9
    # an explicit CPT outside the starter list is accepted on a corrected version
    r = coder.code(make_enc(version=2, visit="procedure_only", dxs=[dx("L72.3", primary=True)], pxs=[px("11401", charge="180.00")]), NOW)
    assert line_tokens(r) == ["11401"] and r.coded.service_lines[0].rule_id == "PX-REV-001"


def test_confidence_threshold_is_configurable(ref):
    enc = make_enc(minutes=25, dxs=[dx("7200002", "Alcoholism", SCT, True)])  # mapped at 0.85
    assert "DX_LOW_CONFIDENCE" in reason_codes(Coder(ref, 0.9).code(enc, NOW))
    assert Coder(ref, 0.8).code(enc, NOW).coded is not None


def test_review_item_carries_proposals_and_no_phi(coder):
    enc = make_enc(minutes=25, dxs=[dx("I10", "Zed Quarry has high pressure", primary=True), dx("E11", "sugar trouble")])
    r = coder.code(enc, NOW)
    assert [d.code for d in r.review.proposed_diagnoses] == ["I10"]
    blob = r.review.model_dump_json()
    for secret in ("Zed", "Quarry", "MEMBER-SECRET-9", "1975-01-20", "sugar trouble", "high pressure"):
        assert secret not in blob


def test_module_level_code_encounter(monkeypatch, coder):
    monkeypatch.setattr(logic, "_default", coder)
    assert logic.code_encounter(make_enc(minutes=25, dxs=[dx("I10", primary=True)]), NOW).coded is not None
