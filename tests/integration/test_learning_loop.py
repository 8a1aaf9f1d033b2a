"""Learning from coders on real Kafka: k resolutions on coding.resolutions.v1 that agree on a
concept teach the coder; after a restart with its local table state deleted (the learned
mapping comes back from its changelog) the next encounter with that concept is coded with
provenance learned and "learned from 3 coder decisions", without a person."""

from __future__ import annotations

from functools import partial

import shutil
import time
from decimal import Decimal

import pytest

from claimflow import kafkaio, topics
from claimflow.codec import Codec
from claimflow.models import (
    CodedDiagnosis,
    CodedEncounter,
    CodingResolution,
    CodingReviewItem,
    Provenance,
    ResolutionAction,
    utcnow,
)
from claimflow_app.services import spawn, wait_assigned, wait_healthy
from tests.harness import _pipeline
from tests.integration.workbench.test_workbench_flow import wait
from tests.unit.coder.coder_helpers import SCT, dx, make_enc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
CODEC = Codec()
SYNCOPE = "271594007"  # not in the coder's curated SNOMED CT map: every such visit goes to review


@pytest.fixture
def coder_only(kafka_broker, tmp_path):
    pipe = _pipeline(kafka_broker, tmp_path, ("coder",))
    yield pipe
    codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"coder did not exit cleanly: {codes}"


def _publish(settings, spec, key: str, name: str, record) -> None:
    p = kafkaio.producer(settings)
    p.send(spec.name, key=key.encode(), value=CODEC.encode(name, record.to_avro())).get(timeout=30)
    p.flush()
    p.close()


def _read(settings, spec, model, name: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in kafkaio.read_topic(spec.name, settings, timeout=3):
        out.setdefault(r.key.decode(), []).append(model.model_validate(CODEC.decode(r.value, name)))
    return out


_wait = partial(wait, timeout=45.0)


def _visit(eid: str):
    return make_enc(minutes=25, dxs=[dx(SYNCOPE, "Syncope", SCT, True)]).model_copy(update={"encounter_id": eid})


def test_three_agreeing_resolutions_teach_the_coder_and_survive_a_restart(coder_only):
    pipe, settings = coder_only, coder_only.settings
    started = time.monotonic()
    taught = [f"ENC-LEARN-{i}" for i in range(3)]
    for eid in taught:
        _publish(settings, topics.ENCOUNTERS, eid, "EncounterEvent", _visit(eid))
    reviews = _wait(lambda: (lambda r: r if all(e in r for e in taught) else None)(
        _read(settings, topics.CODING_REVIEW, CodingReviewItem, "CodingReviewItem")), "three review items")
    assert all("DX_UNMAPPED_SNOMED" in [x.code for x in reviews[e][-1].reasons] for e in taught)

    for n, eid in enumerate(taught):
        item = reviews[eid][-1]
        res = CodingResolution(
            resolution_id=f"RS-LEARN-{n}", encounter_id=eid, encounter_version=1, review_routed_at=item.routed_at,
            action=ResolutionAction.EDIT, resolved_by="alice", resolved_role="coder", resolved_at=utcnow(),
            reason="syncope without a stated cause: R55", before_diagnoses=item.proposed_diagnoses,
            before_service_lines=item.proposed_service_lines,
            diagnoses=[CodedDiagnosis(sequence=1, code="R55", provenance=Provenance.REVIEWED, confidence=1.0,
                                      rule_id="HUMAN-REVIEW-001", code_set_version="FY2026")],
            service_lines=[ln.model_copy(update={"diagnosis_pointers": [1], "provenance": Provenance.REVIEWED})
                           for ln in item.proposed_service_lines])
        _publish(settings, topics.CODING_RESOLUTIONS, eid, "CodingResolution", res)
        if n == 0:  # a redelivered resolution counts once
            _publish(settings, topics.CODING_RESOLUTIONS, eid, "CodingResolution", res)
    coded = _wait(lambda: (lambda c: c if all(e in c for e in taught) else None)(
        _read(settings, topics.ENCOUNTERS_CODED, CodedEncounter, "CodedEncounter")), "three human-coded encounters")
    assert all(len(coded[e]) == 1 and coded[e][0].diagnoses[0].provenance is Provenance.REVIEWED for e in taught)
    time.sleep(2)  # the learned-codes writes follow the deliveries: let them reach the changelog

    # restart with the local table state deleted: the learned mapping comes back from its changelog
    proc = pipe.procs[0]
    assert proc.stop() in (0, None)
    pipe.procs.remove(proc)
    shutil.rmtree(settings.data_dir / "coder", ignore_errors=True)
    fresh = spawn("coder", pipe.log_dir, pipe.env)
    pipe.procs.append(fresh)
    wait_healthy("coder", settings.port_for("coder"), timeout=90, proc=fresh)
    wait_assigned(fresh, timeout=90)

    _publish(settings, topics.ENCOUNTERS, "ENC-LEARN-NEXT", "EncounterEvent", _visit("ENC-LEARN-NEXT"))
    got = _wait(lambda: _read(settings, topics.ENCOUNTERS_CODED, CodedEncounter, "CodedEncounter").get("ENC-LEARN-NEXT"),
                "the next encounter coded by learning")
    d = got[0].diagnoses[0]
    assert (d.code, d.provenance, d.rule_id, d.source_code) == ("R55", Provenance.LEARNED, "LEARNED-001", SYNCOPE)
    assert d.provenance_note == "learned from 3 coder decisions (SNOMED CT 271594007)"  # the redelivery counted once
    assert "ENC-LEARN-NEXT" not in _read(settings, topics.CODING_REVIEW, CodingReviewItem, "CodingReviewItem")
    assert got[0].service_lines and all(ln.charge > Decimal("0") for ln in got[0].service_lines)
    print(f"\n[learning] 3 resolutions -> restart -> learned coding of the next encounter in {time.monotonic() - started:.1f}s")
