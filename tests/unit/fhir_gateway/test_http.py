"""HTTP endpoint of the FHIR gateway, through aiohttp's TestServer/TestClient (no broker:
publish is an injected recorder)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from services.fhir_gateway.http import GatewayConfig, create_app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def bundle_bytes(name: str = "office-visit-with-coverage.json") -> bytes:
    return (FIXTURES / name).read_bytes()


class Recorder:
    def __init__(self, fail: bool = False):
        self.calls: list[list] = []
        self.fail = fail

    async def __call__(self, events):
        if self.fail:
            raise ConnectionError("broker down")
        self.calls.append(list(events))


def run(config: GatewayConfig, scenario, publish=None):
    publish = publish or Recorder()

    async def main():
        async with TestClient(TestServer(create_app(publish, config))) as client:
            return await scenario(client)

    return asyncio.run(main()), publish


def test_valid_token_returns_batch_response_and_publishes_the_events():
    async def scenario(client):
        resp = await client.post("/fhir/Bundle", data=bundle_bytes(), headers={**FHIR_JSON, "Authorization": "Bearer s3cret"})
        return resp.status, resp.headers, await resp.json(content_type=None)

    (status, headers, body), rec = run(GatewayConfig(bearer_token=SecretStr("s3cret")), scenario)
    assert status == 200
    assert headers["Content-Type"].startswith("application/fhir+json")
    assert body["resourceType"] == "Bundle" and body["type"] == "batch-response"
    assert len(body["entry"]) == 10
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses[5] == "201 Created" and statuses.count("200 OK") == 9
    assert all(e["response"]["outcome"]["resourceType"] == "OperationOutcome" for e in body["entry"])
    [events] = rec.calls
    assert len(events) == 1 and events[0].coverage is not None
    assert events[0].encounter_id in json.dumps(body["entry"][5])
    assert headers["X-Claimflow-Events"] == "1"


def test_missing_or_wrong_token_is_401_and_nothing_is_published():
    async def scenario(client):
        out = []
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}, {"Authorization": "Basic czNjcmV0"}):
            resp = await client.post("/fhir/Bundle", data=bundle_bytes(), headers={**FHIR_JSON, **headers})
            out.append((resp.status, resp.headers.get("WWW-Authenticate"), await resp.json(content_type=None)))
        return out

    results, rec = run(GatewayConfig(bearer_token=SecretStr("s3cret")), scenario)
    for status, challenge, body in results:
        assert status == 401 and challenge and challenge.startswith("Bearer")
        assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "login"
    assert rec.calls == []


def test_no_token_configured_accepts_posts_on_root_with_application_json():
    async def scenario(client):
        resp = await client.post("/", data=bundle_bytes("telehealth-visit-relative-refs.json"), headers={"Content-Type": "application/json"})
        return resp.status

    status, rec = run(GatewayConfig(), scenario)
    assert status == 200 and len(rec.calls) == 1


def test_malformed_input_is_400_operation_outcome_without_phi():
    bodies = [b"{not json", b"\xff\xfe", json.dumps({"resourceType": "Patient", "name": [{"family": "Secretname"}]}).encode(),
              json.dumps({"resourceType": "Bundle", "type": "history", "entry": []}).encode(), b"[]"]

    async def scenario(client):
        out = []
        for body in bodies:
            resp = await client.post("/fhir/Bundle", data=body, headers=FHIR_JSON)
            out.append((resp.status, await resp.text()))
        return out

    results, rec = run(GatewayConfig(), scenario)
    for status, text in results:
        assert status == 400
        oo = json.loads(text)
        assert oo["resourceType"] == "OperationOutcome"
        assert oo["issue"][0]["severity"] in ("fatal", "error") and oo["issue"][0]["code"] and oo["issue"][0]["diagnostics"]
        assert "Secretname" not in text
    assert rec.calls == []


def test_partial_bundle_is_200_with_per_entry_errors():
    async def scenario(client):
        resp = await client.post("/fhir/Bundle", data=bundle_bytes("office-visit-without-coverage.json"), headers=FHIR_JSON)
        return resp.status, await resp.json(content_type=None)

    (status, body), rec = run(GatewayConfig(), scenario)
    assert status == 200
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert len(statuses) == 10 and statuses[7].startswith("422") and statuses[8].startswith("422")
    assert body["entry"][7]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[7]"]
    assert len(rec.calls) == 1


def test_oversize_request_is_413_with_and_without_content_length():
    big = bundle_bytes()
    limit = len(big) - 1

    async def chunks():
        for i in range(0, len(big), 100):
            yield big[i:i + 100]

    async def scenario(client):
        r1 = await client.post("/fhir/Bundle", data=big, headers=FHIR_JSON)
        r2 = await client.post("/fhir/Bundle", data=chunks(), headers=FHIR_JSON)  # chunked: no Content-Length
        return r1.status, (await r1.json(content_type=None))["issue"][0]["code"], r2.status

    (s1, code, s2), rec = run(GatewayConfig(max_body_bytes=limit), scenario)
    assert (s1, code, s2) == (413, "too-long", 413)
    assert rec.calls == []


def test_unsupported_media_type_is_415():
    async def scenario(client):
        resp = await client.post("/fhir/Bundle", data=bundle_bytes(), headers={"Content-Type": "text/plain"})
        return resp.status

    status, _ = run(GatewayConfig(), scenario)
    assert status == 415


def test_publish_failure_is_503_so_the_sender_retries():
    async def scenario(client):
        resp = await client.post("/fhir/Bundle", data=bundle_bytes(), headers=FHIR_JSON)
        return resp.status, (await resp.json(content_type=None))["issue"][0]["code"]

    (status, code), _ = run(GatewayConfig(), scenario, publish=Recorder(fail=True))
    assert (status, code) == (503, "transient")


def test_healthz_and_loopback_default():
    async def scenario(client):
        resp = await client.get("/healthz")
        return resp.status, await resp.json()

    (status, body), _ = run(GatewayConfig(), scenario)
    assert status == 200 and body == {"service": "fhir-gateway", "status": "ok"}  # the shape every service answers with
    assert GatewayConfig().host == "127.0.0.1"


def test_resending_the_same_bundle_publishes_identical_events():
    async def scenario(client):
        for _ in range(2):
            resp = await client.post("/fhir/Bundle", data=bundle_bytes(), headers=FHIR_JSON)
            assert resp.status == 200

    _, rec = run(GatewayConfig(), scenario)
    first, second = rec.calls
    assert [e.model_dump() for e in first] == [e.model_dump() for e in second]
