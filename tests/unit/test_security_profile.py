"""Fail closed, identity and the ACL plan: pure checks (no broker).

- A service bound beyond loopback, or in the prod profile, refuses to start without its
  tokens and secrets, with a message that names them; the dev profile on loopback warns.
- The token table holds hashes and names principals; wrong, missing or malformed
  credentials name nobody.
- The ACLs are generated from the catalog's writers/readers: every service gets exactly
  the topics its code uses, nothing is a wildcard, and no two services share a group."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from claimflow import acls, security, topics
from claimflow.httpauth import (
    DEV_PRINCIPAL,
    Principal,
    TokenTable,
    TokenTableError,
    authenticate,
    new_token,
    table_from_settings,
    table_line,
    token_hash,
)
from claimflow.settings import Settings

SECRET = SecretStr("k" * 40)


def tokens(*entries: tuple[str, str, str]) -> SecretStr:
    return SecretStr("\n".join(table_line(t, p, r) for t, p, r in entries))


# --- fail closed ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "claimflow.internal", "::"])
def test_scrubber_beyond_loopback_refuses_without_tokens_and_day_key(host):
    with pytest.raises(security.InsecureConfiguration) as err:
        security.check("scrubber", Settings(http_host=host))
    text = str(err.value)
    assert "refuses to start" in text and host in text
    assert "CLAIMFLOW_HTTP_TOKENS" in text and "CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET" in text


def test_prod_profile_refuses_even_on_loopback_and_wants_encrypted_kafka():
    with pytest.raises(security.InsecureConfiguration) as err:
        security.check("adjudicator", Settings(profile="prod"))
    assert "CLAIMFLOW_HTTP_TOKENS" in str(err.value) and "SASL_SSL" in str(err.value)
    ok = Settings(profile="prod", http_tokens=tokens((new_token(), "a", "b")), kafka_security_protocol="SASL_SSL")
    assert security.check("adjudicator", ok) == []


def test_short_day_key_secret_is_refused():
    s = Settings(http_host="0.0.0.0", http_tokens=tokens((new_token(), "a", "b")), scrubber_day_key_secret=SecretStr("short"))
    with pytest.raises(security.InsecureConfiguration, match="DAY_KEY_SECRET"):
        security.check("scrubber", s)
    full = s.model_copy(update={"scrubber_day_key_secret": SECRET})
    assert security.check("scrubber", full) == []


def test_services_without_http_routes_need_no_tokens_beyond_loopback():
    for service in ("coder", "payer-sim", "payer-gateway"):
        assert security.check(service, Settings(http_host="0.0.0.0")) == []


def test_dev_on_loopback_runs_and_warns():
    warnings = security.check("scrubber", Settings())
    assert any("NOT authenticated" in w for w in warnings)
    assert any("day-key" in w for w in warnings)
    assert any("PLAINTEXT" in w for w in warnings)


def test_the_cli_exits_with_a_clear_message_when_insecure(tmp_path):
    """`claimflow run scrubber` bound beyond loopback, without its secrets: exit 78 before
    any broker connection, the message on stderr names what is missing."""
    env = {"PATH": "/usr/bin:/bin", "CLAIMFLOW_HTTP_HOST": "0.0.0.0", "CLAIMFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:1",
           "CLAIMFLOW_DATA_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "claimflow_app.cli", "run", "scrubber"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == security.EX_CONFIG, res.stderr[-2000:]
    assert "scrubber refuses to start (bound to 0.0.0.0)" in res.stderr
    assert "CLAIMFLOW_SCRUBBER_DAY_KEY_SECRET" in res.stderr


def test_scrubber_shell_has_no_default_day_key_outside_dev(tmp_path):
    from services.scrubber.app import build_scrubber
    from services.scrubber.logic import ScrubReference

    ref = ScrubReference.load(None)
    with pytest.raises(security.InsecureConfiguration):
        build_scrubber(Settings(http_host="0.0.0.0", data_dir=tmp_path), ref)
    dev = build_scrubber(Settings(data_dir=tmp_path), ref)
    own = build_scrubber(Settings(http_host="0.0.0.0", data_dir=tmp_path, scrubber_day_key_secret=SECRET), ref)
    assert dev._secret != own._secret == SECRET.get_secret_value().encode()


# --- identity ---------------------------------------------------------------------------


def test_token_table_names_the_principal_and_keeps_only_hashes():
    alice, bob = new_token(), new_token()
    text = tokens((alice, "alice", "biller"), (bob, "bob", "coder"))
    assert alice not in text.get_secret_value() and bob not in text.get_secret_value()
    assert token_hash(alice) in text.get_secret_value()
    table = TokenTable.of(text=text)
    assert authenticate({"Authorization": f"Bearer {alice}"}, table) == Principal("alice", "biller")
    assert authenticate({"Authorization": f"bearer {bob}"}, table) == Principal("bob", "coder")
    for headers in ({}, {"Authorization": f"Bearer {new_token()}"}, {"Authorization": alice}, {"Authorization": "Bearer "}):
        assert authenticate(headers, table) is None
        assert authenticate(headers, table, relaxed=True) is None  # a configured table is never relaxed


def test_dev_relaxation_only_without_any_table():
    assert authenticate({}, TokenTable(), relaxed=True) == DEV_PRINCIPAL
    assert authenticate({}, TokenTable(), relaxed=False) is None


def test_token_file_and_legacy_shared_token(tmp_path):
    carol = new_token()
    f = tmp_path / "tokens"
    f.write_text("# staff\n" + table_line(carol, "carol", "auditor") + "\n\n")
    s = Settings(http_tokens_file=f, http_write_token=SecretStr("legacy-shared"))
    table = table_from_settings(s)
    assert authenticate({"Authorization": f"Bearer {carol}"}, table) == Principal("carol", "auditor")
    assert authenticate({"Authorization": "Bearer legacy-shared"}, table) == Principal("shared-token", "staff")


def test_malformed_table_lines_are_reported_by_number_without_content():
    with pytest.raises(TokenTableError) as err:
        TokenTable.parse("sha256:" + "0" * 64 + " ok role\nmy-secret-token-typed-here\n")
    assert "line 2" in str(err.value) and "my-secret" not in str(err.value)


# --- ACL plan ---------------------------------------------------------------------------


def test_each_service_gets_exactly_the_topics_its_code_uses():
    access = acls.service_access("claimflow")
    assert set(access["coder"].reads) == {"encounters.v1", "coding.resolutions.v1", "claimflow-coder-review-pending-changelog",
                                          "claimflow-coder-learned-codes-changelog", "claimflow-coder-__assignor-__leader"}
    assert set(access["coder"].writes) == {"encounters.coded.v1", "coding.review.v1", "dlq.coder.v1",
                                           "claimflow-coder-review-pending-changelog", "claimflow-coder-learned-codes-changelog",
                                           "claimflow-coder-__assignor-__leader"}
    assert set(access["fhir-gateway"].writes) == {"encounters.v1"} and access["fhir-gateway"].reads == ()
    assert access["fhir-gateway"].groups == ()
    assert "claims.v1" in access["scrubber"].writes and "claims.v1" not in access["scrubber"].reads
    assert "claimflow-scrubber-day-history-changelog" in access["scrubber"].creates
    assert "claimflow-adjudicator-claim-ledger-changelog" in access["adjudicator"].reads
    assert "audit.access.v1" in access["adjudicator"].writes
    for a in access.values():
        assert all(t.startswith("claimflow-" + a.service + "-") for t in a.creates)
        assert a.transactional_ids == ()


def test_writers_of_every_topic_are_known_principals():
    for spec in topics.ALL_TOPICS:
        clients = {acls.CATALOG_CLIENT.get(p, p) for p in acls.PRINCIPALS}
        assert set(spec.writers) | set(spec.readers) <= clients, spec.name
    # no topic that nobody may write under ACLs (appeals.outcomes.v1 is written by the payer
    # simulator and the command line since the denials work)
    assert {t.name for t in topics.ALL_TOPICS if not t.writers} == set()


def test_groups_are_per_service_and_no_rule_is_a_wildcard():
    rules = acls.plan("claimflow")
    groups = [r for r in rules if r.resource_type == "GROUP"]
    assert sorted(r.resource_name for r in groups) == sorted(f"claimflow-{s}" for s in acls.FAUST_SERVICES)
    assert all(r.principal == f"User:claimflow-{r.resource_name.removeprefix('claimflow-')}" for r in groups)
    assert all("*" not in r.resource_name and r.operation in ("READ", "WRITE", "CREATE") for r in rules)
    assert len(rules) == len(set(rules))


def test_placeholder_secrets_are_refused():
    s = Settings(profile="prod", kafka_security_protocol="SASL_SSL", http_tokens=tokens((new_token(), "a", "b")),
                 fhir_bearer_token=SecretStr("REPLACE-ME-fhir-bearer-token"))
    with pytest.raises(security.InsecureConfiguration, match="REPLACE-ME"):
        security.check("fhir-gateway", s)


def test_day_key_secret_from_a_file(tmp_path):
    f = tmp_path / "day_key_secret"
    f.write_text("d" * 64 + "\n")
    s = Settings(http_host="0.0.0.0", http_tokens=tokens((new_token(), "a", "b")), scrubber_day_key_secret_file=f)
    assert s.day_key_secret().get_secret_value() == "d" * 64
    assert security.check("scrubber", s) == []
