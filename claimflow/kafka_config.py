"""One Kafka client configuration, derived from the settings, for both clients claimflow
uses: kafka-python (CLI, admin, publishers, the FHIR gateway) and Faust/aiokafka (the
stream processors). Both get the same bootstrap servers, security protocol, SASL
mechanism and credentials, and TLS trust and client certificate."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claimflow.settings import Settings


@dataclass(frozen=True)
class KafkaClientConfig:
    bootstrap: tuple[str, ...]
    security_protocol: str  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism: str | None = None  # set when the protocol is SASL_*
    username: str | None = None
    password: str | None = None
    cafile: Path | None = None  # set only when the protocol uses TLS
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings: "Settings") -> "KafkaClientConfig":
        proto = settings.kafka_security_protocol
        sasl, tls = proto.startswith("SASL"), proto.endswith("SSL")
        return cls(
            bootstrap=tuple(h.strip() for h in settings.kafka_bootstrap.split(",") if h.strip()),
            security_protocol=proto,
            sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
            username=settings.kafka_username if sasl else None,
            password=settings.kafka_password.get_secret_value() if sasl and settings.kafka_password else None,
            cafile=settings.kafka_ssl_cafile if tls else None,
            certfile=settings.kafka_ssl_certfile if tls else None,
            keyfile=settings.kafka_ssl_keyfile if tls and settings.kafka_ssl_certfile else None,
        )

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        cfg: dict[str, Any] = {"bootstrap_servers": list(self.bootstrap), "security_protocol": self.security_protocol}
        if self.sasl:
            cfg.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username, sasl_plain_password=self.password)
        if self.cafile:
            cfg["ssl_cafile"] = str(self.cafile)
        if self.certfile:  # a client certificate does not depend on a private CA
            cfg["ssl_certfile"] = str(self.certfile)
            cfg["ssl_keyfile"] = str(self.keyfile) if self.keyfile else None
        return cfg

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the Faust/aiokafka clients (None without TLS): trusts ``cafile``
        (the system store when unset) and presents the client certificate when set."""
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        if self.certfile:
            ctx.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
        return ctx

    def faust_broker_urls(self) -> list[str]:
        return [f"kafka://{h}" for h in self.bootstrap]

    def faust_credentials(self):
        """Faust's ``broker_credentials`` (None for PLAINTEXT)."""
        import faust

        ctx = self.ssl_context()
        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self.password, mechanism=self.sasl_mechanism,
                                         ssl_context=ctx)
        if ctx is not None:
            return faust.SSLCredentials(ctx)
        return None
