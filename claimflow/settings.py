"""One typed, frozen settings object, read once at start from CLAIMFLOW_* variables.

Nothing else in claimflow reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

SERVICE_PORTS = {"coder": 6101, "scrubber": 6102, "adjudicator": 6103, "fhir-gateway": 6104, "payer-sim": 6105, "payer-gateway": 6106}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMFLOW_", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="host:port[,host:port] of the brokers")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    topic_replication_factor: int | None = Field(None, description="overrides deploy/topics.yaml defaults")
    kafka_session_timeout_seconds: float = Field(45.0, description="consumer group session timeout: how long a dead worker holds its partitions")
    kafka_heartbeat_interval_seconds: float = Field(3.0, description="consumer group heartbeat interval (well under the session timeout)")

    # Local broker (make kafka-up / claimflow kafka up)
    kafka_version: str = "4.1.2"
    kafka_home: Path = Field(default_factory=lambda: Path.home() / ".cache" / "claimflow")
    local_kafka_dir: Path = REPO_ROOT / "var" / "kafka"
    local_kafka_port: int = 9092
    local_kafka_controller_port: int = 9093
    local_kafka_heap: str = "512m"

    # Services
    http_host: str = Field("127.0.0.1", description="bind address of every HTTP endpoint (metrics, health, views)")
    port_coder: int = SERVICE_PORTS["coder"]
    port_scrubber: int = SERVICE_PORTS["scrubber"]
    port_adjudicator: int = SERVICE_PORTS["adjudicator"]
    port_fhir_gateway: int = SERVICE_PORTS["fhir-gateway"]
    port_payer_sim: int = SERVICE_PORTS["payer-sim"]
    port_payer_gateway: int = SERVICE_PORTS["payer-gateway"]

    # HTTP writes (scrubber corrections)
    http_write_token: SecretStr | None = Field(None, description="when set, HTTP writes (POST) on the services need Authorization: Bearer <token>")

    # Scrubber
    scrubber_day_key_secret: SecretStr | None = Field(None, description="HMAC secret of the scrubber's opaque day_key; set your own per deployment")
    scrubber_refdata_dir: Path | None = Field(None, description="folder of reference data imported with `claimflow refdata import` (starter sets when unset)")
    scrubber_payers_file: Path | None = Field(None, description="per-payer rules (timely filing, required fields); the bundled payers.yaml when unset")

    # FHIR gateway (EHR edge)
    fhir_bearer_token: SecretStr | None = Field(None, description="when set, POSTs need Authorization: Bearer <token>")
    fhir_max_body_bytes: int = 10_485_760
    fhir_source_system: str = "fhir-gateway"
    fhir_reference_dir: Path | None = Field(None, description="folder of shared Practitioner/Organization bundles")

    # Payer gateway (X12 edge)
    x12_outbox: Path = REPO_ROOT / "var" / "x12" / "outbox"
    x12_inbox: Path = REPO_ROOT / "var" / "x12" / "inbox"
    x12_state_dir: Path = REPO_ROOT / "var" / "x12" / "state"
    x12_batch_seconds: float = 2.0

    # Adjudicator
    adjudicator_pending_ttl_hours: float = Field(72.0, description="how long a remittance waits for its claim before it is dead-lettered as unmatched")
    adjudicator_sweep_seconds: float = 30.0

    # Payer simulator
    payer_sim_seed: int = 7

    # Workbench (services/workbench): web app + projector into its SQL read model
    port_workbench: int = Field(6107, description="the workbench projector's /metrics and /healthz port")
    port_workbench_web: int = Field(6110, description="the workbench web app's port")
    workbench_database_url: str | None = Field(None, description="sqlite:///path or postgresql://user[:pw]@host:port/db; SQLite under data_dir when unset")
    workbench_secret_key: SecretStr | None = Field(None, description="Django secret key; required when the web app is bound beyond loopback")
    workbench_learning_k: int = Field(3, description="agreeing coder decisions (and none disagreeing) before a concept is auto-coded")
    data_dir: Path = REPO_ROOT / "var" / "data"
    table_store: str = Field("rocksdb://", description="Faust table store: rocksdb:// in production, memory:// in tests")
    app_id_prefix: str = "claimflow"
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    max_message_bytes: int = 1_048_576
    # log the coordinates (topic, partition, offset; no content) of every record a service
    # handled: a diagnostic for offset/commit questions, off in production (one line per record)
    trace_offsets: bool = False
    # fault injection for the reliability tests: "topic:partition:offset" of one record the
    # consumer fetches and then drops before any handler sees it (as Faust does around a
    # rebalance); never set in production
    fault_drop_fetched: str | None = None

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"port_{service.replace('-', '_')}"))

    def kafka_python_config(self) -> dict:
        """Connection settings for kafka-python clients (CLI, admin, tests)."""
        cfg: dict = {"bootstrap_servers": self.kafka_bootstrap.split(","), "security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            cfg["sasl_mechanism"] = self.kafka_sasl_mechanism
            cfg["sasl_plain_username"] = self.kafka_username
            cfg["sasl_plain_password"] = self.kafka_password.get_secret_value() if self.kafka_password else None
        if self.kafka_security_protocol.endswith("SSL"):
            if self.kafka_ssl_cafile:
                cfg["ssl_cafile"] = str(self.kafka_ssl_cafile)
            if self.kafka_ssl_certfile:  # a client certificate does not depend on a private CA
                cfg["ssl_certfile"] = str(self.kafka_ssl_certfile)
                cfg["ssl_keyfile"] = str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None
        return cfg


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
