"""FHIR Bundle -> EncounterEvent mapping, on small hand-written synthetic bundles."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claimflow.models import PatientStatus, PlanType, SubscriberRelationship, VisitType
from services.fhir_gateway.ingest import ingest_paths
from services.fhir_gateway.mapping import BundleError, fingerprint, map_bundle, map_bundles
from services.fhir_gateway.resources import check_bundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED = "http://snomed.info/sct"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def outcome_for(result, rtype: str, rid: str):
    [o] = [o for o in result.outcomes if o.resource_type == rtype and o.resource_id == rid]
    return o


def test_office_visit_with_coverage_resolves_urn_uuid_references():
    result = map_bundle(load("office-visit-with-coverage.json"))
    assert result.summary["errors"] == 0
    [ev] = result.events
    assert re.fullmatch(r"FE[0-9A-F]{30}", ev.encounter_id)
    assert ev.version == 1
    assert ev.patient.patient_id == "MRN-TEST-0001"
    assert (ev.patient.first_name, ev.patient.last_name) == ("Alex", "Testperson")
    assert ev.patient.sex.value == "female"
    assert ev.patient.address is not None and ev.patient.address.state == "IL"
    cov = ev.coverage
    assert cov is not None
    assert (cov.payer_id, cov.payer_name, cov.member_id, cov.group_number) == ("EXM01", "Example Mutual Insurance", "MBR-TEST-42", "GRP-7")
    assert cov.plan_type == PlanType.COMMERCIAL and cov.relationship == SubscriberRelationship.SELF
    assert (ev.rendering_provider.npi, ev.rendering_provider.taxonomy) == ("1987654328", "207Q00000X")
    assert (ev.billing_provider.npi, ev.billing_provider.tax_id) == ("1234567893", "123456789")
    assert str(ev.date_of_service) == "2024-05-02"
    assert ev.place_of_service == "11"
    assert ev.visit_type == VisitType.OFFICE
    assert ev.patient_status == PatientStatus.ESTABLISHED  # CPT 99213 in Encounter.type
    assert ev.total_time_minutes == 25
    # ICD-10-CM preferred over SNOMED; the OID alias is written as the canonical URI
    assert [(d.system, d.code, d.is_primary) for d in ev.diagnoses] == [(ICD10CM, "E11.9", True), (ICD10CM, "I10", False)]
    assert [(p.system, p.code, p.modifiers, p.charge) for p in ev.procedures] == [
        (CPT, "99213", ["25"], Decimal("110.00")),
        (CPT, "36415", [], Decimal("12.00")),  # unitPrice x quantity, Procedure billed once
    ]
    # every entry has exactly one outcome and all were used
    assert sorted(o.index for o in result.outcomes) == list(range(10))
    assert {o.status for o in result.outcomes} == {"used"}


def test_relative_references_practitioner_role_and_free_text():
    result = map_bundle(load("telehealth-visit-relative-refs.json"))
    [ev] = result.events
    assert ev.rendering_provider.npi == "1567890128"
    assert ev.rendering_provider.taxonomy == "207R00000X"  # from PractitionerRole.specialty
    assert ev.billing_provider.name == "Example Virtual Care" and ev.billing_provider.tax_id == "987654321"
    assert ev.visit_type == VisitType.TELEHEALTH and ev.place_of_service == "10"
    [dx] = ev.diagnoses
    assert (dx.system, dx.code, dx.display) == (None, None, "sore throat for three days")
    [px] = ev.procedures  # Procedure.encounter used a versioned relative reference
    assert (px.system, px.code, px.charge) == (HCPCS, "G2012", None)
    assert ev.coverage is None


def test_conditional_identifier_references_across_files_of_a_directory():
    result = ingest_paths([FIXTURES / "synthea-style-directory"])
    assert result.summary["errors"] == 0 and result.summary["files"] == 3
    [ev] = result.events
    assert ev.rendering_provider.npi == "1987654328" and ev.rendering_provider.name == "Ade Okafor"
    assert ev.billing_provider.name == "Example General Hospital"
    assert ev.place_of_service == "20"  # explicit CMS POS on the Location beats Encounter.class
    assert [(d.system, d.code) for d in ev.diagnoses] == [(SNOMED, "62315008")]
    assert str(ev.date_of_service) == "2022-12-24"  # local date as written, not shifted to UTC


def test_conditional_references_need_the_reference_files():
    alone = ingest_paths([FIXTURES / "synthea-style-directory" / "patient-bundle.json"])
    assert alone.events == []
    [enc] = [o for o in alone.outcomes if o.resource_type == "Encounter"]
    assert enc.status == "error" and enc.code == "required"
    assert "rendering practitioner" in enc.reason
    # the same patient bundle with the other files given as reference-only inputs
    with_refs = ingest_paths([FIXTURES / "synthea-style-directory" / "patient-bundle.json"],
                             reference_paths=[FIXTURES / "synthea-style-directory"])
    assert len(with_refs.events) == 1
    assert {o.source for o in with_refs.outcomes} == {str(FIXTURES / "synthea-style-directory" / "patient-bundle.json")}


def test_missing_patient_gives_a_clear_error_for_that_encounter():
    result = map_bundle(load("encounter-missing-patient.json"))
    assert result.events == []
    o = outcome_for(result, "Encounter", "enc-orphan")
    assert o.status == "error" and o.code == "not-found"
    assert "Patient is missing" in o.reason
    assert o.expression == ("Bundle.entry[1].resource.subject",)
    assert o.operation_outcome()["issue"][0]["severity"] == "error"


def test_missing_coverage_leaves_coverage_empty_with_a_warning():
    result = map_bundle(load("office-visit-without-coverage.json"))
    [ev] = result.events
    assert ev.coverage is None
    enc = outcome_for(result, "Encounter", "enc-nocov")
    assert enc.status == "used"
    assert any("payer by display only" in i.diagnostics and i.severity == "warning" for i in enc.issues)
    # no practitioner: the billing organisation renders
    assert ev.rendering_provider == ev.billing_provider
    assert ev.visit_type == VisitType.PREVENTIVE


def test_unknown_types_are_ignored_with_a_count_and_bad_entries_are_errors():
    bundle = load("office-visit-without-coverage.json")
    result = map_bundle(bundle)
    assert sorted(o.index for o in result.outcomes) == list(range(len(bundle["entry"])))  # nothing dropped
    s = result.summary
    assert s["ignored_by_type"]["Observation"] == 2 and s["ignored_by_type"]["Basic"] == 1
    assert s["errors"] == 2 and s["errors_by_code"] == {"structure": 2}
    planned = outcome_for(result, "Encounter", "enc-planned")
    assert planned.status == "ignored" and "planned" in planned.reason
    assert len(result.events) == 1  # the partial bundle is still processed


def test_same_bundle_gives_same_ids_and_fingerprints_and_a_change_is_detected():
    bundle = load("office-visit-with-coverage.json")
    a, b = map_bundle(bundle), map_bundle(copy.deepcopy(bundle))
    assert [e.encounter_id for e in a.events] == [e.encounter_id for e in b.events]
    assert a.fingerprints == b.fingerprints
    assert a.events[0].model_dump() == b.events[0].model_dump()
    changed = copy.deepcopy(bundle)
    changed["entry"][7]["resource"]["code"]["coding"][0]["code"] = "I11.9"
    c = map_bundle(changed)
    assert c.events[0].encounter_id == a.events[0].encounter_id
    assert c.fingerprints[c.events[0].encounter_id] != a.fingerprints[a.events[0].encounter_id]
    # lastUpdated moves occurred_at but not the fingerprint
    touched = copy.deepcopy(bundle)
    touched["entry"][5]["resource"]["meta"] = {"lastUpdated": "2024-05-03T10:00:00Z"}
    d = map_bundle(touched)
    assert d.events[0].occurred_at != a.events[0].occurred_at
    assert fingerprint(d.events[0]) == fingerprint(a.events[0])


def test_encounter_id_prefers_identifier_over_logical_id():
    bundle = load("office-visit-with-coverage.json")
    a = map_bundle(bundle)
    renamed = copy.deepcopy(bundle)
    renamed["entry"][5]["resource"]["id"] = "another-server-id"
    assert map_bundle(renamed).events[0].encounter_id == a.events[0].encounter_id
    no_ident = copy.deepcopy(bundle)
    del no_ident["entry"][5]["resource"]["identifier"]
    assert map_bundle(no_ident).events[0].encounter_id != a.events[0].encounter_id


def test_duplicate_encounter_across_files_is_reported_not_duplicated():
    bundle = load("office-visit-with-coverage.json")
    result = map_bundles([("a.json", bundle), ("b.json", copy.deepcopy(bundle))])
    assert len(result.events) == 1
    dup = [o for o in result.outcomes if o.resource_type == "Encounter" and o.source == "b.json"][0]
    assert dup.status == "ignored" and dup.code == "duplicate"


def test_established_patient_from_history_within_three_years():
    bundle = load("office-visit-without-coverage.json")
    later = copy.deepcopy(bundle["entry"][2])
    later["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000777"
    later["resource"]["id"] = "enc-nocov-later"
    later["resource"]["period"] = {"start": "2024-11-20T10:00:00-08:00"}
    bundle["entry"].append(later)
    result = map_bundle(bundle)
    status = {e.date_of_service.year: e.patient_status for e in result.events}
    assert status == {2023: PatientStatus.UNKNOWN, 2024: PatientStatus.ESTABLISHED}


@pytest.mark.parametrize("klass,pos", [("AMB", "11"), ("VR", "10"), ("EMER", "23"), ("XYZ", "99")])
def test_place_of_service_from_encounter_class(klass, pos):
    bundle = load("encounter-missing-patient.json")
    bundle["entry"].append({"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000099",
                            "resource": {"resourceType": "Patient", "id": "p99", "birthDate": "2000-02-02", "name": [{"family": "X", "given": ["Y"]}]}})
    bundle["entry"][1]["resource"]["class"]["code"] = klass
    [ev] = map_bundle(bundle).events
    assert ev.place_of_service == pos


@pytest.mark.parametrize("klass", ["IMP", "ACUTE", "OBSENC", "HH"])
def test_institutional_stays_are_not_mapped_to_professional_claims(klass):
    bundle = load("encounter-missing-patient.json")
    bundle["entry"].append({"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000099",
                            "resource": {"resourceType": "Patient", "id": "p99", "birthDate": "2000-02-02", "name": [{"family": "X", "given": ["Y"]}]}})
    bundle["entry"][1]["resource"]["class"]["code"] = klass
    result = map_bundle(bundle)
    assert result.events == []
    [out] = [o for o in result.outcomes if o.resource_type == "Encounter"]
    assert out.status == "ignored" and out.code == "not-supported" and "837I" in out.reason


def test_malformed_bundles_raise_bundle_error_without_echoing_values():
    for bad in ([], "x", {"resourceType": "Patient", "name": [{"family": "Secretname"}]}, {"resourceType": "Bundle"},
                {"resourceType": "Bundle", "type": "history"}, {"resourceType": "Bundle", "type": "batch", "entry": {"a": 1}}):
        with pytest.raises(BundleError) as exc:
            check_bundle(bad)
        assert exc.value.issues and all(i.code for i in exc.value.issues)
        assert "Secretname" not in str(exc.value)


def test_invalid_patient_values_are_not_echoed():
    bundle = load("office-visit-with-coverage.json")
    bundle["entry"][0]["resource"]["birthDate"] = "1961-99-99"
    result = map_bundle(bundle)
    assert result.events == []
    text = json.dumps([o.to_dict() for o in result.outcomes])
    assert "1961-99-99" not in text and "Testperson" not in text and "MRN-TEST-0001" not in text
    pat = outcome_for(result, "Patient", "pat-office-1")
    assert pat.status == "error" and pat.expression == ("Bundle.entry[0].resource.birthDate",)
    enc = outcome_for(result, "Encounter", "enc-office-1")
    assert enc.status == "error" and "birthDate" in enc.reason


def test_future_date_of_service_is_an_error_outcome():
    bundle = load("office-visit-with-coverage.json")
    bundle["entry"][5]["resource"]["period"] = {"start": "2999-01-01T09:00:00Z"}
    result = map_bundle(bundle)
    assert result.events == []
    enc = outcome_for(result, "Encounter", "enc-office-1")
    assert enc.status == "error" and enc.code == "invariant" and "date_of_service" in enc.reason


def test_immunization_notes_and_dose_numbers_become_the_note_text():
    """The coder reads counselling and the COVID-19 dose number from note_text: the mapping
    puts Immunization.note and protocolApplied dose numbers there, nothing else."""
    bundle = load("office-visit-with-coverage.json")
    [ev] = map_bundle(copy.deepcopy(bundle)).events
    assert ev.note_text is None
    imm = {"resourceType": "Immunization", "id": "imm-1", "status": "completed",
           "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
           "patient": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
           "encounter": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000006"},
           "occurrenceDateTime": "2024-05-02", "note": [{"text": "Physician counseled on vaccine risks and benefits"}],
           "protocolApplied": [{"doseNumberPositiveInt": 2}]}
    not_done = {**copy.deepcopy(imm), "id": "imm-2", "status": "not-done", "note": [{"text": "refused"}],
                "protocolApplied": [{"doseNumberString": "3"}]}
    bundle["entry"] += [{"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000011", "resource": imm},
                        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000012", "resource": not_done}]
    [ev] = map_bundle(bundle).events
    assert ev.note_text == "Physician counseled on vaccine risks and benefits. dose 2"


def _with_visit(bundle: dict, start: str, n: int) -> dict:
    enc = copy.deepcopy(bundle["entry"][2])
    enc["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-0000000008{n:02d}"
    enc["resource"]["id"] = f"enc-extra-{n}"
    enc["resource"]["period"] = {"start": start}
    bundle["entry"].append(enc)
    return bundle


def test_new_patient_when_the_export_covers_the_three_year_look_back():
    # the export holds a visit more than three years before the 2023 one (at the same practice,
    # so that early visit's own status is unknown): with nothing in the three years before, the
    # later visit is a new-patient visit; the visit four months later is established
    bundle = load("office-visit-without-coverage.json")
    start = bundle["entry"][2]["resource"]["period"]["start"]
    _with_visit(bundle, "2019-01-15T10:00:00-08:00", 1)
    _with_visit(bundle, start.replace("2023", "2024", 1), 2)
    status = {e.date_of_service.year: e.patient_status for e in map_bundle(bundle).events}
    assert status == {2019: PatientStatus.UNKNOWN, 2023: PatientStatus.NEW, 2024: PatientStatus.ESTABLISHED}


def test_three_year_look_back_edge_and_newborn_record():
    bundle = load("office-visit-without-coverage.json")
    dos = date.fromisoformat(bundle["entry"][2]["resource"]["period"]["start"][:10])
    # a visit at the same practice 3*365+1 days before is still inside the look-back (established);
    # one day earlier it is outside, and the export then covers the whole look-back (new)
    for days, want in ((3 * 365 + 2, PatientStatus.NEW), (3 * 365 + 1, PatientStatus.ESTABLISHED)):
        b = copy.deepcopy(bundle)
        _with_visit(b, (dos - timedelta(days=days)).isoformat(), 1)
        ev = [e for e in map_bundle(b).events if e.date_of_service == dos][0]
        assert ev.patient_status == want, days
    for born_days_before, want in ((14, PatientStatus.NEW), (15, PatientStatus.UNKNOWN)):
        b = copy.deepcopy(bundle)
        [p] = [e for e in b["entry"] if isinstance(e, dict) and isinstance(e.get("resource"), dict)
               and e["resource"].get("resourceType") == "Patient"]
        p["resource"]["birthDate"] = (dos - timedelta(days=born_days_before)).isoformat()
        [ev] = map_bundle(b).events
        assert ev.patient_status == want, born_days_before
