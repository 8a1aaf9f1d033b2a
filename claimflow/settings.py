"""One typed, frozen settings object, read once at start from CLAIMFLOW_* variables.

Nothing else in claimflow reads the environment."""

from __future__ import annotations

from functools import lru_cache
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from claimflow.kafka_config import KafkaClientConfig

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
    kafka_connect_timeout_seconds: float = Field(10.0, description="how long a CLI command tries to reach the brokers before it gives up (exit code 3)")

    # Local broker (make kafka-up / claimflow kafka up)
    kafka_version: str = "4.1.2"
    kafka_home: Path = Field(default_factory=lambda: Path.home() / ".cache" / "claimflow")
    local_kafka_dir: Path = REPO_ROOT / "var" / "kafka"
    local_kafka_port: int = 9092
    local_kafka_controller_port: int = 9093
    local_kafka_heap: str = "512m"

    # The demo (claimflow demo / make demo): its own broker, service ports and folder, so it
    # never mixes its run with a broker or services that are already up
    demo_kafka_port: int = Field(9192, description="client port of the demo's own broker")
    demo_kafka_controller_port: int = Field(9193, description="controller port of the demo's own broker")
    demo_port_base: int = Field(6201, description="first HTTP port of the demo's services (one per service, in registry order)")
    demo_dir: Path = REPO_ROOT / "var" / "demo"

    # Services
    http_host: str = Field("127.0.0.1", description="bind address of every HTTP endpoint (metrics, health, views)")
    port_coder: int = SERVICE_PORTS["coder"]
    port_scrubber: int = SERVICE_PORTS["scrubber"]
    port_adjudicator: int = SERVICE_PORTS["adjudicator"]
    port_fhir_gateway: int = SERVICE_PORTS["fhir-gateway"]
    port_payer_sim: int = SERVICE_PORTS["payer-sim"]
    port_payer_gateway: int = SERVICE_PORTS["payer-gateway"]

    # Security profile (see the README's "Security" section and claimflow/security.py).
    # dev: on loopback a service may run without tokens and secrets, and warns that it does.
    # prod: never. Whatever the profile, a service bound beyond loopback refuses to start
    # without its tokens and secrets.
    profile: Literal["dev", "prod"] = "dev"
    # Per-user HTTP credentials: one line per token, "sha256:<hex of the token> <principal>
    # <role>" (`claimflow tokens new` makes one). The table holds hashes, never tokens.
    http_tokens: SecretStr | None = Field(None, description="token table (lines of 'sha256:<hex> <principal> <role>')")
    http_tokens_file: Path | None = Field(None, description="file holding the token table (e.g. a mounted Secret)")
    # deprecated single shared token: accepted as the principal 'shared-token' (role 'staff')
    http_write_token: SecretStr | None = Field(None, description="legacy shared bearer token; prefer http_tokens")
    # Who runs the command-line tools that print PHI (`claimflow claims show`): recorded on
    # audit.access.v1. Outside dev it must be set.
    operator_id: str | None = Field(None, description="staff user id of the person running the CLI")
    operator_role: str = "operator"

    # Scrubber
    scrubber_day_key_secret: SecretStr | None = Field(None, description="HMAC secret of the scrubber's opaque day_key; set your own per deployment")
    scrubber_day_key_secret_file: Path | None = Field(None, description="file holding the day-key secret (e.g. /run/secrets/...)")
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
    adjudicator_refdata_dir: Path | None = Field(None, description="folder with carc.csv/rarc.csv from `claimflow refdata import` (falls back to scrubber_refdata_dir, then the starter lists)")
    adjudicator_outcome_wait_seconds: float = Field(3600.0, description="how long an appeal outcome waits for its filing before it is dead-lettered as never filed")
    adjudicator_write_off_limit: Decimal = Field(Decimal("500.00"), description="write-offs above this need a supervisor's approval")

    # Coder
    codeset_cache: Path | None = Field(None, description="folder of the pinned previous-fiscal-year ICD-10-CM wheels (var/codesets when unset)")
    coder_learning_k: int = Field(3, description="agreeing coder decisions (and none disagreeing) before the coder auto-codes a "
                                  "concept it sent to review; 0 turns learning off")

    # Expected reimbursement (claimflow/reimbursement)
    pfs_dir: Path | None = Field(None, description="folder given to `claimflow refdata import pfs --out` (the newest release under it is used); scrubber_refdata_dir when unset")
    pfs_conversion_factors: str = Field("", description="conversion factor overrides by year, e.g. '2026=33.4009' (CY2026 has two: 33.5675 for qualifying APM participants, 33.4009 otherwise)")
    pfs_qualifying_apm: bool = Field(False, description="CY2026+: price with the qualifying-APM-participant conversion factor")
    reimbursement_payers_file: Path | None = Field(None, description="payer contracts (reimbursement section); the bundled services/adjudicator/data/payers.yaml when unset")
    x12_strict_envelope: bool = Field(False, description="refuse an 835 transaction set whose SE01 segment count is wrong even when it is complete and balanced")

    # Payer simulator
    payer_sim_seed: int = 7
    payer_sim_denial_rates: dict[str, float] | None = Field(None, description='denial mix, e.g. {"CO-50": 0.2} (the simulator default when unset)')
    payer_sim_appeal_delay_seconds: float = Field(0.0, description="wall-clock delay before the simulator answers a filed appeal")

    # Workbench (services/workbench): web app + projector into its SQL read model
    port_workbench: int = Field(6107, description="the workbench projector's /metrics and /healthz port")
    port_workbench_web: int = Field(6110, description="the workbench web app's port")
    workbench_database_url: str | None = Field(None, description="sqlite:///path or postgresql://user[:pw]@host:port/db; SQLite under data_dir when unset")
    workbench_secret_key: SecretStr | None = Field(None, description="Django secret key; required when the web app is bound beyond loopback")
    data_dir: Path = REPO_ROOT / "var" / "data"
    table_store: str = Field("rocksdb://", description="Faust table store: rocksdb:// in production, memory:// in tests")
    table_block_cache_mib: int = Field(8, ge=1, description="RocksDB block cache per table partition (Faust's default is 2 GiB each)")
    table_write_buffer_mib: int = Field(4, ge=1, description="RocksDB memtable size per table partition, two of them at most (Faust's default: 3 x 64 MiB)")
    app_id_prefix: str = "claimflow"
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    max_message_bytes: int = 1_048_576
    # log the coordinates (topic, partition, offset; no content) of every record a service
    # handled: a diagnostic for offset/commit questions, off in production (one line per record)
    trace_offsets: bool = False
    # the record loop (claimflow/runtime.py Processor): a batch closes at this many records,
    # after this many milliseconds, or as soon as no further record is waiting
    batch_max_records: int = Field(500, ge=1, description="most records the Processor handles in one batch (one acknowledgement wait)")
    batch_max_ms: float = Field(50.0, ge=0, description="longest time a batch stays open collecting records, in milliseconds")
    # fault injection for the reliability tests: "topic:partition:offset" of one record the
    # consumer fetches and then drops before any handler sees it (as Faust does around a
    # rebalance); never set in production
    fault_drop_fetched: str | None = None
    # fault injection for the reliability tests: SIGKILL this process right after it has sent
    # the outputs of its n-th batch of at least two records, before their acknowledgements
    # are awaited (a kill while a batch's outputs are in flight); never set in production
    fault_kill_in_batch: int | None = None

    def pfs_cf_choice(self):
        """The conversion-factor choice these settings describe (see claimflow.reimbursement.pricing)."""
        from decimal import Decimal

        from claimflow.reimbursement.pricing import ConversionFactorChoice

        overrides = {}
        for part in filter(None, (p.strip() for p in self.pfs_conversion_factors.split(","))):
            year, _, value = part.partition("=")
            overrides[int(year)] = Decimal(value)
        return ConversionFactorChoice(overrides, self.pfs_qualifying_apm)

    def day_key_secret(self) -> SecretStr | None:
        """The scrubber's day-key secret, from the variable or the file (stripped)."""
        if self.scrubber_day_key_secret is not None:
            return self.scrubber_day_key_secret
        if self.scrubber_day_key_secret_file is not None:
            try:
                return SecretStr(Path(self.scrubber_day_key_secret_file).read_text().strip()) or None
            except OSError:
                return None
        return None

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"port_{service.replace('-', '_')}"))

    def kafka_python_config(self) -> dict:
        """Connection settings for kafka-python clients (CLI, admin, tests); the Faust apps
        get theirs from the same KafkaClientConfig (claimflow/kafka_config.py)."""
        return KafkaClientConfig.from_settings(self).kafka_python()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
