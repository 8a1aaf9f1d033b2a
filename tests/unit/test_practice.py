"""The practice profile: validated at load, fills billing data an EHR export lacks, feeds the 837 envelope."""

import pytest
import yaml

from claimflow import practice
from claimflow.settings import Settings
from services.fhir_gateway.mapping import map_bundle


def test_shipped_profile_loads_and_feeds_the_gateway(tmp_path, monkeypatch):
    p = practice.load()
    assert practice.npi_check_digit_ok(p.billing_npi) and len(p.billing_tax_id) == 9
    from services.payer_gateway.app import gateway_config
    cfg = gateway_config(Settings(x12_state_dir=str(tmp_path)))
    assert cfg.submitter_id == p.submitter_id and cfg.billing_address == p.billing_address
    other = tmp_path / "p.yaml"
    raw = yaml.safe_load(practice.DEFAULT_PATH.read_text())
    raw["submitter"]["id"] = "OTHER01"
    other.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("CLAIMFLOW_PRACTICE_PROFILE", str(other))
    assert gateway_config(Settings(x12_state_dir=str(tmp_path))).submitter_id == "OTHER01"


@pytest.mark.parametrize("key,value,msg", [("npi", "1234567890", "check digit"), ("tax_id", "12-34", "9 digits"),
                                           ("taxonomy", "family doc", "NUCC")])
def test_bad_profile_values_are_refused(key, value, msg):
    raw = yaml.safe_load(practice.DEFAULT_PATH.read_text())
    raw["billing_provider"][key] = value
    with pytest.raises(practice.PracticeProfileError, match=msg):
        practice.parse(raw, "test")
    with pytest.raises(practice.PracticeProfileError, match="missing"):
        practice.parse({"submitter": {}}, "test")


def test_mapping_fills_only_what_the_export_lacks():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01",
                                                 "name": [{"family": "X", "given": ["Y"]}]}},
        {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Organization", "id": "o1", "name": "Clinic"}},
        {"fullUrl": "urn:uuid:e1", "resource": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                                                 "class": {"code": "AMB"}, "subject": {"reference": "urn:uuid:p1"},
                                                 "serviceProvider": {"reference": "urn:uuid:o1"},
                                                 "period": {"start": "2026-01-05T10:00:00Z"}}}]}
    bare = map_bundle(bundle)
    assert bare.events[0].billing_provider.npi == "" and bare.events[0].billing_provider.tax_id is None
    from services.fhir_gateway.mapping import map_bundles
    prof = practice.load()
    filled = map_bundles([("b", bundle)], practice=prof)
    bp = filled.events[0].billing_provider
    assert (bp.npi, bp.tax_id, bp.name) == (prof.billing_npi, prof.billing_tax_id, "Clinic")  # the export's name is kept
    enc_out = next(o for o in filled.outcomes if o.resource_type == "Encounter")
    assert any("practice profile" in i.diagnostics for i in enc_out.issues)
