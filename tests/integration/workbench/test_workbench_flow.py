"""The coding review loop on real parts: the coder routes an encounter to review, the
projector puts it in the read model (SQLite, then a real PostgreSQL server), a coder
resolves it over HTTP, the coder applies the resolution and the scrubber makes one claim.
Permissions, CSRF, stale/double submits, redelivery and dead letters are checked on the way."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest

from claimflow import kafkaio, topics
from claimflow.codec import Codec
from claimflow.ids import claim_id
from claimflow.models import CodingResolution
from tests.integration.workbench.stack import Client, hidden
from tests.unit.workbench.builders import encounter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
CODEC = Codec()


def publish(stack, spec, key: str, value: bytes) -> None:
    p = kafkaio.producer(stack.settings)
    p.send(spec.name, key=key.encode(), value=value).get(timeout=30)
    p.close()


def records(stack, spec, key: str | None = None):
    return [r for r in kafkaio.read_topic(spec.name, stack.settings, timeout=3) if key is None or r.key == key.encode()]


def wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_review_item_becomes_exactly_one_claim(stack):
    eid = f"ENC-WB-{stack.db_url.split(':')[0].upper()}"  # one encounter per database (the pipeline is shared)
    # header code: the coder routes it to review; a patient of its own, so no other test's claim shares its day (MUE)
    enc = encounter(eid, dos=date.today() - timedelta(days=30), dx_code="E11", patient_id=f"P-{eid}")
    publish(stack, topics.ENCOUNTERS, eid, CODEC.encode("EncounterEvent", enc.to_avro()))

    anon = Client(stack.base)
    status, _, location = anon.request("/")
    assert status == 302 and location.startswith("/login/"), "anonymous -> login"
    status, _, location = anon.request(f"/review/{eid}/")
    assert status == 302 and "/login/" in location

    alice = Client(stack.base)
    alice.login("alice")
    page = wait(lambda: (lambda r: r[1] if r[0] == 200 else None)(alice.request(f"/review/{eid}/")), "the review item")
    assert "category heading" in page and "E11.9" in page  # reason in plain words, candidate codes
    assert "follow-up for sugar" in page and "type 2 diabetes" in page  # the documentation (note, concept)
    status, queue, _ = alice.request("/?reason=DX_HEADER_CODE&payer=PAYER-A&sort=-age")
    assert status == 200 and eid in queue
    assert eid not in alice.request("/?payer=NO-SUCH-PAYER")[1]
    status, options, _ = alice.request(f"/codes/search/?kind=dx&fy=2026&q=E11.6")
    assert status == 200 and "E11.65" in options and "E11.6<" not in options  # billable codes only
    token = hidden(page, "token")
    form = {"token": token, "dx_1": "E11.65", "line_1_code": "99213", "line_1_units": "1", "line_1_pointers": "1",
            "action": "code"}

    bob = Client(stack.base)
    bob.login("bob")
    assert bob.request(f"/review/{eid}/")[0] == 403
    assert bob.request(f"/review/{eid}/resolve/", {**form, "reason": "biller tries"})[0] == 403

    assert alice.request(f"/review/{eid}/resolve/", {**form, "reason": "x"}, csrf=False)[0] == 403  # no CSRF token
    status, body, _ = alice.request(f"/review/{eid}/resolve/", {**form, "dx_1": "E11", "reason": "header"})
    assert status == 422 and "header (non-billable)" in body
    status, body, _ = alice.request(f"/review/{eid}/resolve/", form)
    assert status == 422 and "override reason" in body
    status, _, location = alice.request(f"/review/{eid}/resolve/", {**form, "reason": "hyperglycaemia documented"})
    assert status == 302 and location == "/"
    status, _, location = alice.request(f"/review/{eid}/resolve/", {**form, "reason": "hyperglycaemia documented"})  # double submit
    assert status == 302 and location == f"/review/{eid}/"
    assert "already resolved" in alice.request(location)[1]

    cid = claim_id(eid, 1)
    claims = wait(lambda: records(stack, topics.CLAIMS, cid), "the claim on claims.v1", timeout=90)
    resolutions = records(stack, topics.CODING_RESOLUTIONS, eid)
    assert len(resolutions) == 1, "the double submit published one resolution"
    res = CodingResolution.model_validate(CODEC.decode(resolutions[0].value, "CodingResolution"))
    assert (res.resolved_by, res.action.value, [d.code for d in res.before_diagnoses], [d.code for d in res.diagnoses]) == \
        ("alice", "edit", [], ["E11.65"])

    # redelivery of the same resolution: the coder says so, and there is still one claim
    publish(stack, topics.CODING_RESOLUTIONS, eid, resolutions[0].value)
    wait(lambda: f"for {eid} already applied" in stack.pipe.log_dir.joinpath("coder.log").read_text(), "the coder to skip the redelivery")
    time.sleep(2)
    assert len(records(stack, topics.CLAIMS, cid)) == len(claims) == 1
    assert len(records(stack, topics.ENCOUNTERS_CODED, eid)) == 1

    # topics are projected independently: wait until both the coding and the claim are on the timeline
    timeline = wait(lambda: (lambda b: b if "scrubbed" in b and "coded</strong>" in b else None)(alice.request(f"/claims/{cid}/")[1]),
                    "the timeline")
    kinds = re.findall(r"<strong>(\w+)</strong>", timeline)
    assert kinds.index("review") < kinds.index("resolved") < kinds.index("coded") < kinds.index("scrubbed")
    assert "coded</strong> by alice" in timeline

    ada = Client(stack.base)
    ada.login("ada")
    audit = ada.request("/audit/access/?user=bob")[1]
    assert "denied" in audit and eid in audit, "the biller's 403 is in the access audit"
    audit = ada.request(f"/audit/access/?record_id={eid}")[1]
    assert "alice" in audit and "allowed" in audit
    assert alice.request("/audit/access/")[0] == 403
    events = records(stack, topics.AUDIT_ACCESS, eid)
    decoded = [CODEC.decode(r.value, "AccessEvent") for r in events]
    assert {e["user"] for e in decoded} >= {"alice", "bob"} and {e["outcome"] for e in decoded} == {"allowed", "denied"}
    assert not any(b"Quarry" in r.value or b"MEMBER-SECRET" in r.value for r in events), "no PHI in access events"
    for log in stack.pipe.log_dir.glob("*.log"):
        text = log.read_text()
        assert "Quarry" not in text and "MEMBER-SECRET-9" not in text and "follow-up for sugar" not in text, log


def test_bad_input_goes_to_dead_letters_with_its_original_bytes(stack):
    unknown = CodingResolution(
        resolution_id="RS-UNKNOWN", encounter_id=f"ENC-NEVER-REVIEWED-{stack.db_url[:6]}", encounter_version=1,
        review_routed_at="2026-01-01T00:00:00+00:00", action="query_provider", resolved_by="alice", resolved_role="coder",
        resolved_at="2026-01-01T00:00:01+00:00", reason="please document")
    body = CODEC.encode("CodingResolution", unknown.to_avro())
    publish(stack, topics.CODING_RESOLUTIONS, unknown.encounter_id, body)
    garbage = b"\xc3\x01 not an avro body"
    key = f"CF-GARBAGE-{stack.db_url[:6]}"
    publish(stack, topics.CLAIMS_STATUS, key, garbage)

    coder_dlq = wait(lambda: records(stack, topics.DLQ_CODER, unknown.encounter_id), "the coder's dead letter")
    headers = dict(coder_dlq[0].headers)
    assert coder_dlq[0].value == body and headers["dlq.error.class"] == b"UnknownEncounter"
    wb_dlq = wait(lambda: records(stack, topics.DLQ_WORKBENCH, key), "the projector's dead letter")
    assert wb_dlq[0].value == garbage and dict(wb_dlq[0].headers)["dlq.stage"] == b"decode"


def test_held_claim_corrected_by_the_logged_in_biller_is_released(stack):
    from claimflow.models import EncounterEvent

    eid = f"ENC-HELD-{stack.db_url.split(':')[0].upper()}"
    doc = encounter(eid, dos=date.today() - timedelta(days=30), dx_code="E11.9", patient_id=f"P-{eid}").model_dump(mode="json")
    doc["procedures"][0]["modifiers"] = ["59", "XS"]  # 59 with an X modifier on one line: the scrubber holds it (MOD-002)
    publish(stack, topics.ENCOUNTERS, eid, CODEC.encode("EncounterEvent", EncounterEvent.model_validate(doc).to_avro()))
    cid = claim_id(eid, 1)
    bob = Client(stack.base)
    bob.login("bob")
    page = wait(lambda: (lambda r: r[1] if r[0] == 200 else None)(bob.request(f"/claims/held/{cid}/")), "the held claim")
    assert "MOD-002" in page and "drop 59" in page  # rule id and suggested fix
    token = hidden(page, "held_at")
    form = {"held_at": token, "dx_1": "E11.9", "place_of_service": "11", "line_1_code": "99213", "line_1_modifiers": "XS",
            "line_1_units": "1", "line_1_pointers": "1", "corrected_by": "someone-else"}
    status, body, _ = bob.request(f"/claims/held/{cid}/correct/", form)
    assert status == 422 and "reason" in body
    status, _, location = bob.request(f"/claims/held/{cid}/correct/", {**form, "reason": "XS is the specific modifier"})
    assert status == 302 and location == "/claims/held/"
    claims = wait(lambda: records(stack, topics.CLAIMS, cid), "the released claim", timeout=90)
    assert CODEC.decode(claims[0].value, "Claim")["lines"][0]["modifiers"] == ["XS"]
    corrections = records(stack, topics.CLAIMS_CORRECTED, cid)
    assert [CODEC.decode(r.value, "ClaimCorrection")["corrected_by"] for r in corrections] == ["bob"]
    timeline = wait(lambda: (lambda b: b if "corrected" in b and "scrubbed" in b else None)(bob.request(f"/claims/{cid}/")[1]),
                    "held, corrected and released on the timeline")
    kinds = re.findall(r"<strong>(\w+)</strong>", timeline)
    assert kinds.index("held") < kinds.index("corrected") < kinds.index("scrubbed") and "by bob" in timeline
