"""Transport security (issue #8, item 7).

A real broker whose only client listener is SASL_SSL (SCRAM-SHA-512 over TLS, with a
certificate from a throw-away CA made by tests/reliability/tls.py). Broker-to-broker
traffic uses the same listener with its own SCRAM user; the KRaft controller listener
stays PLAINTEXT on loopback. SCRAM users are bootstrapped at format time
(``kafka-storage format --add-scram``), so no credential ever crosses a PLAINTEXT port.

1. The pipeline (coder, scrubber, adjudicator as processes, configured only through
   CLAIMFLOW_KAFKA_* variables) creates its topics, consumes, produces and keeps its table
   changelogs over SASL_SSL; encounters come out as claims, held claims or review items.
2. Clients that lack something are refused and write nothing: PLAINTEXT to the SASL_SSL
   port, TLS without SASL, SASL_SSL with a wrong password, an unknown user, and a client
   that does not trust the broker's CA (the certificate is verified, not just encrypted).

HTTP: the FHIR gateway's bearer token (401 without or with a wrong token, 200 with the
right one) is covered by tests/unit/fhir_gateway/test_http.py and
tests/integration/test_fhir_gateway.py; it is not repeated here.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import NewTopic
from pydantic import SecretStr

from claimflow import topics
from claimflow.admin import admin_client, create_topics
from claimflow.codec import Codec
from claimflow.kafka_local import LocalBroker
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow.settings import Settings
from claimflow.synthetic import EncounterGenerator
from tests.harness import Pipeline
from tests.reliability.report import FaultOutcome, record
from tests.reliability.tls import make_ca_and_broker_cert

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CORE = ("coder", "scrubber", "adjudicator")
OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
PORT = 22092  # below the ephemeral range (32768+), where client sockets could take it
CONTROLLER_PORT = 22093
PORT_BASE = int(os.environ.get("CLAIMFLOW_SECURITY_PORT_BASE", "22110"))
USER = "claimflow"
PROBE_TOPIC = "security-probe"  # a scratch topic, so write attempts never reach the pipeline's topics
N = 120


def _encounter_id(spec, value: dict) -> str:
    return value["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else value["encounter_id"]


@pytest.fixture(scope="module")
def secure_broker():
    """(broker, client settings) for a SASL_SSL-only broker with a SCRAM user."""
    root = Path(tempfile.mkdtemp(prefix="claimflow-sasl-ssl-"))
    tls = make_ca_and_broker_cert(root / "tls")
    broker_password, client_password = secrets.token_hex(16), secrets.token_hex(16)
    client = Settings(kafka_bootstrap=f"127.0.0.1:{PORT}", kafka_security_protocol="SASL_SSL",
                      kafka_sasl_mechanism="SCRAM-SHA-512", kafka_username=USER,
                      kafka_password=SecretStr(client_password), kafka_ssl_cafile=tls.ca_cert)
    broker = LocalBroker(
        data_dir=root / "kafka", port=PORT, controller_port=CONTROLLER_PORT, settings=client,
        listeners=f"BROKER://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}",
        advertised_listeners=f"BROKER://127.0.0.1:{PORT}",
        protocol_map="BROKER:SASL_SSL,CONTROLLER:PLAINTEXT",
        inter_broker_listener="BROKER",
        extra_properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.broker.scram-sha-512.sasl.jaas.config":
                f'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{broker_password}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_cert),
            "ssl.client.auth": "none",
        },
        probe_config=client.kafka_python_config(),  # readiness is probed over SASL_SSL too
    )
    try:
        broker.format(extra_args=["--add-scram", f"SCRAM-SHA-512=[name=broker,password={broker_password}]",
                                  "--add-scram", f"SCRAM-SHA-512=[name={USER},password={client_password}]"])
        broker.start(wait=180)
        yield broker, client, tls
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def _secure_pipeline(broker: LocalBroker, client: Settings, root: Path) -> Pipeline:
    pipe = Pipeline(broker, root, services=CORE, port_base=PORT_BASE)
    pipe.settings = pipe.settings.model_copy(update={
        "kafka_security_protocol": client.kafka_security_protocol, "kafka_sasl_mechanism": client.kafka_sasl_mechanism,
        "kafka_username": client.kafka_username, "kafka_password": client.kafka_password,
        "kafka_ssl_cafile": client.kafka_ssl_cafile,
    })
    pipe.env.update({
        "CLAIMFLOW_KAFKA_SECURITY_PROTOCOL": client.kafka_security_protocol,
        "CLAIMFLOW_KAFKA_SASL_MECHANISM": client.kafka_sasl_mechanism,
        "CLAIMFLOW_KAFKA_USERNAME": client.kafka_username,
        "CLAIMFLOW_KAFKA_PASSWORD": client.kafka_password.get_secret_value(),
        "CLAIMFLOW_KAFKA_SSL_CAFILE": str(client.kafka_ssl_cafile),
    })
    return pipe


def test_pipeline_runs_end_to_end_over_sasl_ssl(secure_broker, tmp_path):
    broker, client, _ = secure_broker
    pipe = _secure_pipeline(broker, client, tmp_path)
    settings = pipe.settings
    assert settings.kafka_python_config()["security_protocol"] == "SASL_SSL"
    codec = Codec()
    report = create_topics(settings)
    assert topics.ENCOUNTERS.name in report.created + report.existing

    gen = EncounterGenerator(seed=808, defect_rate=0.2)
    encounters = [gen.encounter(i)[0] for i in range(N)]
    try:
        pipe.start()
        assert publish_records(topics.ENCOUNTERS, encounters, "encounter_id", settings) == N
        names = [t.name for t in OUTCOMES]
        settled = wait_for(lambda: sum(topic_sizes(names, settings).values()) >= N, timeout=300, interval=1.0)
        counts: Counter[str] = Counter()
        by_topic: Counter[str] = Counter()
        for spec in OUTCOMES:
            for rec in read_topic(spec.name, settings, timeout=60):
                counts[_encounter_id(spec, codec.decode(rec.value, spec.value))] += 1
                by_topic[spec.name] += 1
        dlq = sum(topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], settings).values())
        sent = {e.encounter_id for e in encounters}
        lost = sent - set(counts)
        record(FaultOutcome(
            fault="pipeline end to end over SASL_SSL (SCRAM-SHA-512, TLS verified)",
            events_in=N, outcomes_out=len(set(counts) & sent), lost=len(lost), duplicated_submissions=0, dlq=dlq,
            recovery_seconds=None, detail={"outcomes_by_topic": dict(by_topic), "settled": settled},
        ))
        assert settled, f"outcomes: {topic_sizes(names, settings)}"
        assert not lost, f"{len(lost)} encounters without an outcome"
        assert set(counts) == sent and all(n == 1 for n in counts.values())
        assert by_topic[topics.CLAIMS.name] > 0 and by_topic[topics.CLAIMS_HELD.name] + by_topic[topics.CODING_REVIEW.name] > 0
        assert dlq == 0
    finally:
        codes = pipe.stop()
    assert all(c in (0, None) for c in codes.values()), f"services did not exit cleanly: {codes}"
    # the services authenticated with the settings they were given: nothing logged the password
    logs = "".join(p.read_text(errors="replace") for p in pipe.log_dir.glob("*.log"))
    assert client.kafka_password.get_secret_value() not in logs


class _KafkaLog(logging.Handler):
    """Collects kafka-python's log messages during one attempt: the refusal's cause is
    logged there, while the caller only sees a timeout."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, rec: logging.LogRecord) -> None:
        self.messages.append(rec.getMessage())

    def __enter__(self) -> "_KafkaLog":
        logging.getLogger("kafka").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("kafka").removeHandler(self)


def _try_write(cfg: dict) -> str | None:
    """Produce one record with ``cfg``; the error class if the broker (or TLS) refused."""
    prod = None
    try:
        prod = KafkaProducer(acks="all", max_block_ms=8000, request_timeout_ms=8000, retries=0,
                             reconnect_backoff_max_ms=1000, client_id="security-test-intruder", **cfg)
        prod.send(PROBE_TOPIC, key=b"probe", value=b"probe").get(timeout=15)
        return None
    except Exception as exc:  # any failure counts as refused; the class is recorded
        return type(exc).__name__
    finally:
        if prod is not None:
            try:
                prod.close(timeout=2)
            except Exception:
                pass


def test_clients_without_valid_credentials_are_refused(secure_broker):
    broker, client, _ = secure_broker
    good = client.kafka_python_config()
    admin = admin_client(client)
    try:
        if PROBE_TOPIC not in admin.list_topics():
            admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)], timeout_ms=15000)
    finally:
        admin.close()
    before = topic_sizes([PROBE_TOPIC], client)[PROBE_TOPIC]
    bootstrap = good["bootstrap_servers"]
    ssl_only = {"bootstrap_servers": bootstrap, "security_protocol": "SSL", "ssl_cafile": good["ssl_cafile"]}
    # name: (client settings, what the client's log must show as the cause)
    scenarios = {
        "client without credentials: PLAINTEXT to the SASL_SSL port":
            ({"bootstrap_servers": bootstrap, "security_protocol": "PLAINTEXT"}, "Connection lost"),
        "client without credentials: TLS but no SASL": (ssl_only, "Connection lost"),
        "client with a wrong password (SASL_SSL, SCRAM-SHA-512)":
            ({**good, "sasl_plain_password": secrets.token_hex(16)}, "SaslAuthenticationFailed"),
        "client with an unknown user (SASL_SSL, SCRAM-SHA-512)":
            ({**good, "sasl_plain_username": "mallory"}, "SaslAuthenticationFailed"),
        "client that does not trust the broker CA (right password)":
            ({k: v for k, v in good.items() if k != "ssl_cafile"}, "CERTIFICATE_VERIFY_FAILED"),
    }
    results, causes = {}, {}
    for name, (cfg, cause) in scenarios.items():
        with _KafkaLog() as log:
            results[name] = _try_write(cfg)
        causes[name] = any(cause in m for m in log.messages)
    # the control: the same call with the right settings is accepted, so refusals are not an artefact
    control = _try_write(good)
    after = topic_sizes([PROBE_TOPIC], client)[PROBE_TOPIC]
    written_by_intruders = after - before - (1 if control is None else 0)
    for name, error in results.items():
        record(FaultOutcome(fault=name, events_in=1, outcomes_out=0, lost=0, duplicated_submissions=0, dlq=0,
                            recovery_seconds=None,
                            detail={"outcome": "refused" if error else "ACCEPTED", "error": error,
                                    "cause_in_client_log": scenarios[name][1] if causes[name] else None}))
    assert control is None, f"the authenticated control write failed: {control}"
    accepted = [name for name, error in results.items() if error is None]
    assert not accepted, f"accepted without valid credentials: {accepted}"
    assert written_by_intruders == 0, f"{written_by_intruders} records written by refused clients"
    wrong_cause = [name for name, ok in causes.items() if not ok]
    assert not wrong_cause, f"refused, but not for the expected reason: {wrong_cause}"
