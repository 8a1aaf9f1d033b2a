"""`claimflow code`: EncounterEvent JSON lines and FHIR bundles through mapping, coder and
scrubber in one process (no Kafka), one result line per encounter."""

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.coder import offline
from services.scrubber.logic import Scrubber, ScrubReference

from .coder_helpers import NOW, dx, make_enc, px

SYNTHEA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fhir" / "synthea-covid-r4"


@pytest.fixture(scope="module")
def pipe(ref, coder):
    return offline.Pipeline(coder, Scrubber(ScrubReference.load(icd_catalogue=ref.catalogue)))


def _lines(tmp_path, *objs, raw=()):
    f = tmp_path / "encounters.jsonl"
    f.write_text("".join(json.dumps(o) + "\n" for o in objs) + "".join(r + "\n" for r in raw))
    return f


def test_event_lines_give_one_result_each_with_provenance_and_verdict(tmp_path, pipe):
    good = make_enc(minutes=25, dxs=[dx("I10", primary=True)]).model_dump(mode="json")
    review = make_enc(minutes=25, dxs=[dx("E11", primary=True)]).model_dump(mode="json")
    selfpay = make_enc(minutes=25, dxs=[dx("I10", primary=True)], plan="self_pay").model_dump(mode="json")
    nodob = dict(good, patient={**good["patient"], "date_of_birth": None})
    out = list(offline.run(pipe, _lines(tmp_path, good, review, selfpay, nodob, raw=["{not json"]), NOW))
    assert [r["outcome"] for r in out] == ["auto-coded", "review", "self-pay", "review", "error"]
    first = out[0]
    assert first["codes"]["diagnoses"][0] == {**first["codes"]["diagnoses"][0], "code": "I10", "provenance": "documented"}
    assert first["codes"]["service_lines"][0]["code"] == "99213" and first["codes"]["service_lines"][0]["provenance"] == "inferred"
    assert first["claim"]["verdict"] in {"clean", "held"} and isinstance(first["claim"]["findings"], list)
    assert out[1]["review_reasons"][0]["code"] == "DX_HEADER_CODE" and out[1]["review_reasons"][0]["candidates"]
    assert out[2]["claim"] is None
    assert out[3]["review_reasons"][0]["code"] == "MISSING_BIRTH_DATE"
    s = offline.summarize(out)
    assert s["encounters"] == 5 and s["outcomes"]["auto-coded"] == 1 and s["review_reasons"]["DX_HEADER_CODE"] == 1
    text = json.dumps(out)
    assert "Quarry" not in text and "MEMBER-SECRET-9" not in text  # no names or member ids in the results


def test_cli_writes_jsonl_and_a_summary(tmp_path, monkeypatch, pipe):
    from services.coder import cli
    monkeypatch.setattr(offline.Pipeline, "load", classmethod(lambda cls, **kw: pipe))
    f = _lines(tmp_path, make_enc(dos=date(2025, 3, 3), minutes=25, dxs=[dx("I10", primary=True)],
                                  pxs=[px("99213", charge="100.00")]).model_dump(mode="json"))
    res = CliRunner().invoke(cli.code, [str(f), "--out", str(tmp_path / "r.jsonl"), "--now", "2025-04-01T00:00:00"])
    assert res.exit_code == 0, res.output
    [line] = (tmp_path / "r.jsonl").read_text().splitlines()
    assert json.loads(line)["outcome"] == "auto-coded"
    assert '"encounters": 1' in res.output


def test_shared_synthea_bundles(pipe):
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea sample bundles not present at {SYNTHEA}")
    out = list(offline.run(pipe, SYNTHEA, NOW))
    assert len(out) == 139 and len({r["encounter_id"] for r in out}) == 139
    assert {r["outcome"] for r in out} <= set(offline.OUTCOMES)
    for r in out:
        msgs = [x["message"] for x in r["review_reasons"]]
        if any(x["code"] == "DX_CODE_SET_UNAVAILABLE" for x in r["review_reasons"]):
            assert not any("no reportable diagnosis" in m for m in msgs)
        assert not any(x["code"] in {"PROC_UNMAPPED_SNOMED", "PROC_UNSUPPORTED_SYSTEM"} for x in r["review_reasons"]), msgs
