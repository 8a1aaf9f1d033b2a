"""Transport security and least privilege on the real broker (issues #8 item 7, #16).

A real broker whose only client listener is SASL_SSL (SCRAM-SHA-512 over TLS, with a
certificate from a throw-away CA made by tests/reliability/tls.py), running KRaft's
StandardAuthorizer with ``allow.everyone.if.no.acl.found=false``
(claimflow.kafka_local.sasl_ssl_broker). SCRAM users are bootstrapped at format time: the
broker, one super user (``claimflow-admin``: topics and ACLs), one principal per service
(claimflow.acls.PRINCIPALS) and ``claimflow-nobody``, which has no ACL at all. The ACLs are
the ones ``claimflow kafka acls apply`` generates from the topic catalog.

1. The pipeline (coder, scrubber, adjudicator, payer-sim as processes, profile ``prod``,
   each under its own Kafka principal, configured only through CLAIMFLOW_* variables)
   consumes, produces and keeps its table changelogs with exactly its ACLs; encounters
   come out as claims, held claims or review items. The adjudicator's claim view refuses a
   caller without a token and records the read of one with a token on audit.access.v1.
2. A service principal writing a topic it does not own is refused
   (TopicAuthorizationFailed) and nothing is written; a principal reading with another
   service's consumer group is refused (GroupAuthorizationFailed) and reads nothing; the
   principal without ACLs cannot read any catalog topic (all of them carry PHI or its
   original bytes).
3. Clients that lack something are refused and write nothing: PLAINTEXT to the SASL_SSL
   port, TLS without SASL, SASL_SSL with a wrong password, an unknown user, and a client
   that does not trust the broker's CA (the certificate is verified, not just encrypted).

Ports: CLAIMFLOW_SECURITY_KAFKA_PORT (+1 for the controller) and
CLAIMFLOW_SECURITY_PORT_BASE for the services, so parallel runs do not collide.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from pydantic import SecretStr

from claimflow import acls, topics
from claimflow.admin import admin_client, create_topics
from claimflow.codec import Codec
from claimflow.models import HeldClaim
from claimflow.httpauth import new_token, table_line
from claimflow.kafka_local import LocalBroker, format_with_users, sasl_ssl_broker
from claimflow.kafkaio import read_topic, topic_sizes, wait_for
from claimflow.publish import publish_records
from claimflow_app.services import spawn, wait_assigned, wait_healthy
from claimflow.settings import Settings
from claimflow.synthetic import EncounterGenerator
from tests.harness import Pipeline
from tests.reliability.report import FaultOutcome, record
from tests.reliability.tls import make_ca_and_broker_cert

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SERVICES = ("coder", "scrubber", "adjudicator", "payer-sim")
OUTCOMES = (topics.CLAIMS, topics.CLAIMS_HELD, topics.CODING_REVIEW)
# below the ephemeral range (32768+), where client sockets could take them
PORT = int(os.environ.get("CLAIMFLOW_SECURITY_KAFKA_PORT", "22092"))
CONTROLLER_PORT = PORT + 1
PORT_BASE = int(os.environ.get("CLAIMFLOW_SECURITY_PORT_BASE", "22110"))
ADMIN = "claimflow-admin"
NOBODY = "claimflow-nobody"
PREFIX = "sec"  # app id prefix of this module's pipeline: groups and changelogs are sec-<service>...
PROBE_TOPIC = "security-probe"  # a scratch topic, so intruders' write attempts never reach the pipeline's topics
N = 120
STAFF_TOKEN = new_token()


def _encounter_id(spec, value: dict) -> str:
    return value["claim"]["encounter_id"] if spec is topics.CLAIMS_HELD else value["encounter_id"]


class SecureCluster:
    def __init__(self, broker: LocalBroker, admin: Settings, passwords: dict[str, str], tls):
        self.broker, self.admin, self.passwords, self.tls = broker, admin, passwords, tls

    def settings_for(self, user: str) -> Settings:
        return self.admin.model_copy(update={"kafka_username": user, "kafka_password": SecretStr(self.passwords[user])})

    def config_for(self, user: str) -> dict:
        return self.settings_for(user).kafka_python_config()


@pytest.fixture(scope="module")
def secure_cluster():
    """A SASL_SSL-only broker with StandardAuthorizer, SCRAM users for every principal, the
    catalog's topics, and the ACLs generated from the catalog applied."""
    root = Path(tempfile.mkdtemp(prefix="claimflow-sasl-ssl-"))
    tls = make_ca_and_broker_cert(root / "tls")
    users = ["broker", ADMIN, NOBODY, *(acls.principal_name(p) for p in acls.PRINCIPALS)]
    passwords = {u: secrets.token_hex(16) for u in users}
    admin = Settings(kafka_bootstrap=f"127.0.0.1:{PORT}", kafka_security_protocol="SASL_SSL",
                     kafka_sasl_mechanism="SCRAM-SHA-512", kafka_username=ADMIN,
                     kafka_password=SecretStr(passwords[ADMIN]), kafka_ssl_cafile=tls.ca_cert, app_id_prefix=PREFIX)
    broker = sasl_ssl_broker(root / "kafka", PORT, CONTROLLER_PORT, keystore=tls.broker_keystore, truststore=tls.ca_cert,
                             client=admin, users=passwords, super_users=(ADMIN,))
    try:
        format_with_users(broker, passwords)
        broker.start(wait=180)
        create_topics(admin)
        ac = admin_client(admin)
        try:
            report = acls.apply(ac, PREFIX)
        finally:
            ac.close()
        assert report.created and not report.deleted
        yield SecureCluster(broker, admin, passwords, tls)
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_acls_show_matches_the_plan_on_the_cluster(secure_cluster):
    """`claimflow kafka acls show` against the real cluster: every generated rule is
    there and nothing else is granted to claimflow's principals (exit 0)."""
    c = secure_cluster
    env = {**os.environ, "CLAIMFLOW_KAFKA_BOOTSTRAP": c.admin.kafka_bootstrap, "CLAIMFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
           "CLAIMFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "CLAIMFLOW_KAFKA_USERNAME": ADMIN,
           "CLAIMFLOW_KAFKA_PASSWORD": c.passwords[ADMIN], "CLAIMFLOW_KAFKA_SSL_CAFILE": str(c.tls.ca_cert),
           "CLAIMFLOW_APP_ID_PREFIX": PREFIX}
    res = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "kafka", "acls", "show"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"{len(acls.plan(PREFIX))} rules on the cluster; 0 missing, 0 not in the plan" in res.stdout
    again = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "kafka", "acls", "apply"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "created 0, removed 0" in again.stdout, again.stdout + again.stderr


def _service_env(c: SecureCluster, pipe: Pipeline, service: str) -> dict[str, str]:
    user = acls.principal_name(service)
    return {
        **pipe.env,
        "CLAIMFLOW_PROFILE": "prod",
        "CLAIMFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CLAIMFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CLAIMFLOW_KAFKA_USERNAME": user,
        "CLAIMFLOW_KAFKA_PASSWORD": c.passwords[user],
        "CLAIMFLOW_KAFKA_SSL_CAFILE": str(c.tls.ca_cert),
        "CLAIMFLOW_HTTP_TOKENS": table_line(STAFF_TOKEN, "biller-7", "biller"),
        "CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET": secrets.token_hex(32),
    }


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_pipeline_runs_end_to_end_under_per_service_principals(secure_cluster, tmp_path):
    c = secure_cluster
    pipe = Pipeline(c.broker, tmp_path, services=SERVICES, port_base=PORT_BASE)
    pipe.env["CLAIMFLOW_APP_ID_PREFIX"] = PREFIX
    admin = c.admin
    operator = c.settings_for(acls.principal_name(acls.OPERATOR))
    codec = Codec()
    gen = EncounterGenerator(seed=808, defect_rate=0.2)
    encounters = [gen.encounter(i)[0] for i in range(N)]
    procs = []
    try:
        for service in SERVICES:
            procs.append(spawn(service, pipe.log_dir, _service_env(c, pipe, service)))
        for p in procs:
            wait_healthy(p.service, pipe.settings.port_for(p.service), timeout=120, proc=p)
            wait_assigned(p, timeout=120)
        # the encounters come in as the operator's publish would send them
        assert publish_records(topics.ENCOUNTERS, encounters, "encounter_id", operator) == N
        names = [t.name for t in OUTCOMES]
        settled = wait_for(lambda: sum(topic_sizes(names, admin).values()) >= N, timeout=300, interval=1.0)
        counts: Counter[str] = Counter()
        by_topic: Counter[str] = Counter()
        for spec in OUTCOMES:
            for rec in read_topic(spec.name, admin, timeout=60):
                counts[_encounter_id(spec, codec.decode(rec.value, spec.value))] += 1
                by_topic[spec.name] += 1
        adjudicated = wait_for(lambda: topic_sizes([topics.ADJUDICATIONS.name], admin)[topics.ADJUDICATIONS.name] > 0, 120, 1.0)

        # the PHI view: 401 without a token; with one, served and recorded on audit.access.v1
        claim_id = codec.decode(read_topic(topics.CLAIMS.name, admin, timeout=30)[0].value, "Claim")["claim_id"]
        view = f"http://127.0.0.1:{pipe.settings.port_for('adjudicator')}/claims/{claim_id}"
        anonymous, _ = _get(view)
        wrong, _ = _get(view, new_token())
        served = wait_for(lambda: _get(view, STAFF_TOKEN)[0] == 200, timeout=60, interval=1.0)
        audit = [codec.decode(r.value, "AccessEvent") for r in read_topic(topics.AUDIT_ACCESS.name, admin, timeout=30)]

        # a correction over HTTP: corrected_by is the token's principal, whatever the body claims
        held = codec.decode(read_topic(topics.CLAIMS_HELD.name, admin, timeout=30)[0].value, "HeldClaim")
        post = urllib.request.Request(
            f"http://127.0.0.1:{pipe.settings.port_for('scrubber')}/claims/{held['claim_id']}/corrections", method="POST",
            data=json.dumps({"claim": HeldClaim.model_validate(held).claim.model_dump(mode="json"), "corrected_by": "mallory",
                             "reason": "security test"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {STAFF_TOKEN}"})
        with urllib.request.urlopen(post, timeout=30) as resp:
            posted = resp.status
        corrections = [codec.decode(r.value, "ClaimCorrection") for r in read_topic(topics.CLAIMS_CORRECTED.name, admin, timeout=30)]

        # `claimflow claims show` as the operator principal: prints the held claim and records who read it
        op_user = acls.principal_name(acls.OPERATOR)
        shown = subprocess.run(
            [sys.executable, "-m", "claimflow_app.cli", "claims", "show", held["claim_id"]], capture_output=True, text=True, timeout=180,
            env={**os.environ, **pipe.env, "CLAIMFLOW_PROFILE": "prod", "CLAIMFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                 "CLAIMFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "CLAIMFLOW_KAFKA_USERNAME": op_user,
                 "CLAIMFLOW_KAFKA_PASSWORD": c.passwords[op_user], "CLAIMFLOW_KAFKA_SSL_CAFILE": str(c.tls.ca_cert),
                 "CLAIMFLOW_OPERATOR_ID": "biller-9", "CLAIMFLOW_OPERATOR_ROLE": "biller"})
        exports = [a for a in (codec.decode(r.value, "AccessEvent") for r in read_topic(topics.AUDIT_ACCESS.name, admin, timeout=30))
                   if a["action"] == "export"]
        dlq = sum(topic_sizes([t.name for t in topics.ALL_TOPICS if t.is_dlq], admin).values())
        sent = {e.encounter_id for e in encounters}
        lost = sent - set(counts)
        record(FaultOutcome(
            fault="pipeline end to end, each service under its own Kafka principal (ACLs from the catalog, SASL_SSL)",
            events_in=N, outcomes_out=len(set(counts) & sent), lost=len(lost), duplicated_submissions=0, dlq=dlq,
            recovery_seconds=None, detail={"outcomes_by_topic": dict(by_topic), "settled": settled, "adjudicated": adjudicated,
                                           "claim_view": {"anonymous": anonymous, "wrong_token": wrong, "token": served},
                                           "access_events": len(audit)},
        ))
        assert settled, f"outcomes: {topic_sizes(names, admin)}"
        assert not lost, f"{len(lost)} encounters without an outcome"
        assert set(counts) == sent and all(n == 1 for n in counts.values())
        assert by_topic[topics.CLAIMS.name] > 0 and by_topic[topics.CLAIMS_HELD.name] + by_topic[topics.CODING_REVIEW.name] > 0
        assert adjudicated, "payer-sim wrote no adjudication under its principal"
        assert dlq == 0
        assert anonymous == 401 and wrong == 401 and served
        mine = [a for a in audit if a["record_id"] == claim_id]
        assert mine and all(a["user"] == "biller-7" and a["role"] == "biller" and a["record_type"] == "claim" for a in mine)
        assert {a["outcome"] for a in mine} <= {"allowed", "not_found"} and "allowed" in {a["outcome"] for a in mine}
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert json.loads(shown.stdout)["claim_id"] == held["claim_id"]
        assert [(a["user"], a["role"], a["record_id"], a["outcome"]) for a in exports] == [("biller-9", "biller", held["claim_id"], "allowed")]
        assert posted == 202 and [c_["corrected_by"] for c_ in corrections if c_["claim_id"] == held["claim_id"]] == ["biller-7"]
    finally:
        codes = {p.service: p.stop() for p in procs}
    assert all(c_ in (0, None) for c_ in codes.values()), f"services did not exit cleanly: {codes}"
    logs = "".join(p.read_text(errors="replace") for p in pipe.log_dir.glob("*.log"))
    assert "TopicAuthorizationFailed" not in logs and "GroupAuthorizationFailed" not in logs
    for user in (acls.principal_name(s) for s in SERVICES):
        assert c.passwords[user] not in logs  # nothing logged a password


def _produce(cfg: dict, topic: str) -> str | None:
    """Write one record; the error class if refused, None if written."""
    prod = None
    try:
        prod = KafkaProducer(acks="all", max_block_ms=10000, request_timeout_ms=10000, retries=0, **cfg)
        prod.send(topic, key=b"probe", value=b"not a contract").get(timeout=15)
        return None
    except Exception as exc:  # the class is what is recorded and asserted
        return type(exc).__name__
    finally:
        if prod is not None:
            prod.close(timeout=2)


def test_service_principal_cannot_write_a_topic_it_does_not_own(secure_cluster):
    c = secure_cluster
    # (principal, topic it does not write): a coder forging claims, a payer-sim forging
    # status changes, the scrubber forging remittances, the FHIR gateway writing claims
    attempts = [("coder", topics.CLAIMS), ("coder", topics.CLAIMS_HELD), ("payer-sim", topics.CLAIMS_STATUS),
                ("scrubber", topics.ADJUDICATIONS), ("fhir-gateway", topics.CLAIMS), ("adjudicator", topics.ENCOUNTERS)]
    names = sorted({t.name for _, t in attempts})
    before = topic_sizes(names, c.admin)
    results = {(svc, t.name): _produce(c.config_for(acls.principal_name(svc)), t.name) for svc, t in attempts}
    after = topic_sizes(names, c.admin)
    written = sum(after[n] - before[n] for n in names)
    for (svc, topic), error in results.items():
        record(FaultOutcome(fault=f"principal {acls.principal_name(svc)} writes {topic} (not its topic)", events_in=1,
                            outcomes_out=0, lost=0, duplicated_submissions=0, dlq=0, recovery_seconds=None,
                            detail={"outcome": "refused" if error else "ACCEPTED", "error": error, "written": written}))
    # control: the same producer code, the coder writing its own dead-letter topic, is accepted
    control = _produce(c.config_for(acls.principal_name("coder")), topics.DLQ_CODER.name)
    assert control is None, f"the coder could not write its own topic: {control}"
    assert all(e == "TopicAuthorizationFailedError" for e in results.values()), results
    assert written == 0


def _consume_with_group(cfg: dict, topic: str, group: str) -> tuple[str | None, int]:
    consumer = KafkaConsumer(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, request_timeout_ms=15000, **cfg)
    read, rewound = 0, False
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            read += sum(len(v) for v in consumer.poll(timeout_ms=1000).values())
            if read:
                break
            if consumer.assignment() and not rewound:  # the group may have committed the end already
                consumer.seek_to_beginning()
                rewound = True
        return None, read
    except Exception as exc:
        return type(exc).__name__, read
    finally:
        consumer.close()


def test_reading_with_another_services_group_is_refused(secure_cluster):
    c = secure_cluster
    payer_sim = c.config_for(acls.principal_name("payer-sim"))
    # payer-sim may read claims.v1, but only in its own group: joining the adjudicator's
    # (or the payer gateway's) group would steal their partitions and commit their offsets
    cases = [("payer-sim", topics.CLAIMS, f"{PREFIX}-adjudicator"), ("payer-sim", topics.CLAIMS, f"{PREFIX}-payer-gateway"),
             ("coder", topics.ENCOUNTERS, f"{PREFIX}-scrubber")]
    results = {}
    for svc, topic, group in cases:
        results[(svc, group)] = _consume_with_group(c.config_for(acls.principal_name(svc)), topic.name, group)
        err, read = results[(svc, group)]
        record(FaultOutcome(fault=f"principal {acls.principal_name(svc)} reads {topic.name} in group {group}", events_in=0,
                            outcomes_out=read, lost=0, duplicated_submissions=0, dlq=0, recovery_seconds=None,
                            detail={"outcome": "refused" if err else "ACCEPTED", "error": err, "records_read": read}))
    assert topic_sizes([topics.CLAIMS.name], c.admin)[topics.CLAIMS.name] > 0, "nothing to read: the refusal would prove nothing"
    # control: the same principal in its own group reads
    control_err, control_read = _consume_with_group(payer_sim, topics.CLAIMS.name, f"{PREFIX}-payer-sim-check")
    assert all(err == "GroupAuthorizationFailedError" and read == 0 for err, read in results.values()), results
    assert control_err == "GroupAuthorizationFailedError", "a group the plan does not name must be refused too"
    own_err, own_read = _consume_with_group(payer_sim, topics.CLAIMS.name, f"{PREFIX}-payer-sim")
    assert own_err is None and own_read > 0, (own_err, own_read)


def test_principal_without_acls_reads_no_phi_topic(secure_cluster):
    """claimflow-nobody authenticates fine but has no ACL: the broker answers its metadata
    request for every catalog topic with TOPIC_AUTHORIZATION_FAILED, and a consumer
    assigned to every partition of every topic, from the beginning, gets nothing."""
    from kafka import KafkaAdminClient
    from kafka.errors import for_code

    c = secure_cluster
    cfg = c.config_for(NOBODY)
    catalog = topics.ALL_TOPICS
    names = [t.name for t in catalog]
    sizes = topic_sizes(names, c.admin)
    admin = KafkaAdminClient(request_timeout_ms=15000, **cfg)
    try:
        described = admin.describe_topics(names)
    finally:
        admin.close()
    refused = {}
    for t in described:
        name = t.get("topic") or t.get("name")
        code = t.get("error_code", 0)
        refused[name] = for_code(code).__name__ if code else None
    consumer = KafkaConsumer(enable_auto_commit=False, request_timeout_ms=15000, **cfg)
    read = 0
    try:
        tps = [TopicPartition(t.name, p) for t in catalog for p in range(t.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for _ in range(5):
            read += sum(len(v) for v in consumer.poll(timeout_ms=1000).values())
        visible = consumer.topics()
    finally:
        consumer.close()
    record(FaultOutcome(fault=f"principal {NOBODY} (no ACLs) reads every catalog topic", events_in=0, outcomes_out=read,
                        lost=0, duplicated_submissions=0, dlq=0, recovery_seconds=None,
                        detail={"topics": len(catalog), "refused": sum(1 for e in refused.values() if e),
                                "records_on_those_topics": sum(sizes.values()), "records_read": read,
                                "topics_visible": sorted(visible)}))
    assert sum(sizes.values()) > 0, "the topics are empty: the refusal would prove nothing"
    assert read == 0
    assert set(refused) == set(names), refused
    assert all(e == "TopicAuthorizationFailedError" for e in refused.values()), refused
    assert not set(visible) & set(names), "the principal without ACLs can even see topic names"


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


def _try_write(cfg: dict, block_ms: int = 8000) -> str | None:
    """Produce one record with ``cfg``; the error class if the broker (or TLS) refused."""
    prod = None
    try:
        prod = KafkaProducer(acks="all", max_block_ms=block_ms, request_timeout_ms=block_ms, retries=0,
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


def test_clients_without_valid_credentials_are_refused(secure_cluster):
    client = secure_cluster.admin
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
    broker_log = secure_cluster.broker.log_file
    for name, (cfg, cause) in scenarios.items():
        start = broker_log.stat().st_size if broker_log.exists() else 0
        with _KafkaLog() as log:
            results[name] = _try_write(cfg, 15000 if cause == "SaslAuthenticationFailed" else 8000)
        with broker_log.open(errors="replace") as fh:
            fh.seek(start)
            broker_said = fh.read()
        # the cause as the client logged it, or, for SCRAM refusals, as the broker logged it
        # (kafka-python does not always log the SASL failure before its own timeout)
        causes[name] = any(cause in m for m in log.messages) or (
            cause == "SaslAuthenticationFailed" and "Failed authentication with" in broker_said
            and "invalid credentials" in broker_said)
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
