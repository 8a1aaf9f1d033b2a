"""FHIR gateway as a process (`claimflow run fhir-gateway`) on the real broker: a bundle
becomes EncounterEvents on encounters.v1; the same bundle again (even after a restart)
emits nothing; a bad bearer token gets 401; `claimflow ingest fhir` shares the dedupe store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from claimflow import topics
from claimflow.codec import Codec
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow_app.services import wait_healthy
from claimflow.settings import Settings
from tests.harness import _reset_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "fhir"
PORT = int(os.environ.get("CLAIMFLOW_TEST_PORT_BASE", "16100")) + 9
TOKEN = "test-token-not-a-secret"


class Gateway:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Gateway":
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "claimflow_app.cli", "run", "fhir-gateway"], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **self.env}, cwd=REPO)
        out.close()
        wait_healthy("fhir-gateway", PORT, timeout=30)
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code, self.proc = self.proc.returncode, None
        return code


@pytest.fixture
def fhir_env(kafka_broker, tmp_path):
    settings = Settings(kafka_bootstrap=kafka_broker.bootstrap, data_dir=tmp_path / "data")
    _reset_topics(settings)
    env = {"CLAIMFLOW_KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "CLAIMFLOW_DATA_DIR": str(tmp_path / "data"),
           "CLAIMFLOW_PORT_FHIR_GATEWAY": str(PORT), "CLAIMFLOW_FHIR_BEARER_TOKEN": TOKEN}
    return settings, env, tmp_path


def _post(body: bytes, token: str | None = TOKEN):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/fhir/Bundle", data=body, method="POST",
                                 headers={"Content-Type": "application/fhir+json", **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def test_bundle_to_encounters_idempotent_and_authenticated(fhir_env):
    settings, env, tmp = fhir_env
    codec = Codec()
    bundle = (FIX / "office-visit-with-coverage.json").read_bytes()
    gw = Gateway(env, tmp / "fhir-gateway.log")
    try:
        gw.start()
        status, headers, body = _post(bundle)
        assert status == 200, body
        published = int(headers["X-Claimflow-Published"])
        assert published >= 1 and headers["X-Claimflow-Unchanged"] == "0"
        records = read_topic(topics.ENCOUNTERS.name, settings)
        assert len(records) == published  # acknowledged before the 200
        events = [codec.decode(r.value, "EncounterEvent") for r in records]
        assert [r.key.decode() for r in records] == [e["encounter_id"] for e in events]
        assert all(e["version"] == 1 and e["encounter_id"].startswith("FE") for e in events)
        first_ids = {e["encounter_id"] for e in events}

        status, headers, _ = _post(bundle)  # the same bundle again: nothing new
        assert status == 200 and headers["X-Claimflow-Published"] == "0" and int(headers["X-Claimflow-Unchanged"]) == published

        assert _post(bundle, token="wrong")[0] == 401
        assert _post(bundle, token=None)[0] == 401

        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert f'claimflow_records_out_total{{service="fhir-gateway",topic="{topics.ENCOUNTERS.name}"}} {published}.0' in text

        assert gw.stop() == 0
        gw.start()  # the dedupe store survives a restart
        status, headers, _ = _post(bundle)
        assert status == 200 and headers["X-Claimflow-Published"] == "0"
        assert topic_sizes([topics.ENCOUNTERS.name], settings)[topics.ENCOUNTERS.name] == published
    finally:
        code = gw.stop()
    assert code == 0, f"gateway did not exit cleanly ({code}); see {tmp / 'fhir-gateway.log'}"
    log_text = (tmp / "fhir-gateway.log").read_text()
    assert "Traceback" not in log_text

    # the CLI shares the store: the same bundle is unchanged, another one is published
    cli_env = {**os.environ, **env}
    proc = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "ingest", "fhir", str(FIX / "office-visit-with-coverage.json"),
                           str(FIX / "telehealth-visit-relative-refs.json")], capture_output=True, text=True, env=cli_env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"unchanged {published}" in proc.stdout, proc.stdout
    assert wait_for(lambda: topic_sizes([topics.ENCOUNTERS.name], settings)[topics.ENCOUNTERS.name] > published, timeout=10)
    keys = [r.key.decode() for r in read_topic(topics.ENCOUNTERS.name, settings)]
    assert first_ids <= set(keys) and len(keys) == len(set(keys))


def test_bundle_over_http_becomes_a_claim_or_review_item(pipeline, tmp_path):
    """EHR edge to claim: FHIR bundle in over HTTP -> encounters.v1 -> coder -> scrubber."""
    settings = pipeline.settings
    env = {**pipeline.env, "CLAIMFLOW_DATA_DIR": str(tmp_path / "gw"), "CLAIMFLOW_PORT_FHIR_GATEWAY": str(PORT),
           "CLAIMFLOW_FHIR_BEARER_TOKEN": TOKEN}
    gw = Gateway(env, tmp_path / "fhir-gateway.log").start()
    try:
        body = (FIX / "office-visit-with-coverage.json").read_bytes()
        status, headers, _ = _post(body)
        assert status == 200
        codec = Codec()
        encounters = [codec.decode(r.value, "EncounterEvent") for r in read_topic(topics.ENCOUNTERS.name, settings)]
        assert encounters
        ids = {e["encounter_id"] for e in encounters}
        outcome_topics = [topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW]

        def outcomes() -> set[str]:
            seen = set()
            for spec in outcome_topics:
                for r in read_topic(spec.name, settings):
                    v = codec.decode(r.value, spec.value)
                    seen.add(v["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else v["encounter_id"])
            return seen

        assert wait_for(lambda: ids <= outcomes(), timeout=60), "every FHIR encounter reaches a claim, held claim or review item"
    finally:
        assert gw.stop() in (0, None)
