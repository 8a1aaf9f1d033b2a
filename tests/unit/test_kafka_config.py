"""One Kafka client configuration (claimflow/kafka_config.py) for kafka-python and Faust:
both clients get the same servers, protocol, SASL credentials and TLS files."""

from __future__ import annotations

import ssl

import faust
import pytest
from pydantic import SecretStr

from claimflow.kafka_config import KafkaClientConfig
from claimflow.runtime import broker_credentials
from claimflow.settings import Settings


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    from tests.reliability.tls import make_ca_and_broker_cert

    try:
        return make_ca_and_broker_cert(tmp_path_factory.mktemp("tls"))
    except RuntimeError as exc:  # no openssl command line here
        pytest.skip(str(exc))


def test_plaintext():
    s = Settings(kafka_bootstrap="b1:9092, b2:9092", kafka_username="ignored", kafka_password=SecretStr("ignored"))
    assert s.kafka_python_config() == {"bootstrap_servers": ["b1:9092", "b2:9092"], "security_protocol": "PLAINTEXT"}
    assert broker_credentials(s) is None


def test_sasl_ssl_gives_both_clients_the_same_credentials_and_trust(tls):
    s = Settings(kafka_bootstrap="b1:9093", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_username="svc-coder", kafka_password=SecretStr("s3cret"), kafka_ssl_cafile=tls.ca_cert)
    assert s.kafka_python_config() == {
        "bootstrap_servers": ["b1:9093"], "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-coder", "sasl_plain_password": "s3cret", "ssl_cafile": str(tls.ca_cert)}
    creds = broker_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == ("svc-coder", "s3cret", "SCRAM-SHA-512")
    ctx = creds.ssl_context
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in ctx.get_ca_certs()] == [c["subject"] for c in _context_trusting(tls.ca_cert).get_ca_certs()]


def test_ssl_with_a_client_certificate(tls):
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tls.ca_cert, kafka_ssl_certfile=tls.broker_cert,
                 kafka_ssl_keyfile=tls.broker_key, kafka_username="not-sasl")
    cfg = s.kafka_python_config()
    assert cfg["ssl_certfile"] == str(tls.broker_cert) and cfg["ssl_keyfile"] == str(tls.broker_key)
    assert "sasl_plain_username" not in cfg
    creds = broker_credentials(s)
    assert isinstance(creds, faust.SSLCredentials)
    with pytest.raises(ssl.SSLError):  # a wrong key must not load: the chain really was loaded above
        KafkaClientConfig.from_settings(Settings(kafka_security_protocol="SSL", kafka_ssl_certfile=tls.broker_cert,
                                                 kafka_ssl_keyfile=tls.ca_cert)).ssl_context()


def test_tls_files_are_ignored_without_tls(tls):
    cfg = KafkaClientConfig.from_settings(Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=tls.ca_cert,
                                                   kafka_username="u", kafka_password=SecretStr("p")))
    assert cfg.cafile is None and cfg.ssl_context() is None
    assert "ssl_cafile" not in cfg.kafka_python()
    creds = cfg.faust_credentials()
    assert isinstance(creds, faust.SASLCredentials) and creds.ssl_context is None


def test_codeset_cache_is_a_setting(monkeypatch, tmp_path):
    from claimflow import settings as settings_module
    from services.coder import codesets

    monkeypatch.setenv("CLAIMFLOW_CODESET_CACHE", str(tmp_path))
    settings_module.get_settings.cache_clear()
    try:
        assert codesets.default_cache_dir() == tmp_path
    finally:
        settings_module.get_settings.cache_clear()


def _context_trusting(cafile) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))
