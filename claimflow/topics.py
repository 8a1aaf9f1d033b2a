"""The one topic catalog: every topic with its key and value contract, its operational
settings (partitions, retention, cleanup policy) and the services that write and read it.

This module is the single source. Services import these constants (no topic name is
written anywhere else); ``claimflow topics create`` creates topics from it;
``deploy/topics.yaml`` and ``deploy/k8s/21-topics.yaml`` are generated from it by
``claimflow topics render`` (claimflow/catalog.py) and a unit test fails when they are
stale. The least-privilege ACLs are derived from ``writers`` and ``readers``.

``writers`` and ``readers`` name Kafka clients: a service (``coder``, ``scrubber``,
``adjudicator``, ``payer-sim``, ``payer-gateway``, ``fhir-gateway``: the names of
``claimflow run``) or ``cli``, the ``claimflow`` command line a person runs (publish,
ingest, x12 import/export, claims correct). They list who produces or consumes records;
offset look-ups (``topics list``, the demo's summary) are not reads of records. A table's
changelog is written and read by the table's service only (``TableSpec``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parent.parent / "deploy" / "topics.yaml"  # generated
RAW = "original bytes"
DEFAULT_REPLICATION_FACTOR = 1  # override with CLAIMFLOW_TOPIC_REPLICATION_FACTOR on a cluster

DAY_MS = 86_400_000
RETENTION_7_DAYS = 7 * DAY_MS
RETENTION_14_DAYS = 14 * DAY_MS
RETENTION_30_DAYS = 30 * DAY_MS
RETENTION_365_DAYS = 365 * DAY_MS
RETENTION_6_YEARS = 6 * 365 * DAY_MS  # HIPAA documentation retention

CODER, SCRUBBER, ADJUDICATOR, PAYER_SIM, PAYER_GATEWAY, FHIR_GATEWAY = (
    "coder", "scrubber", "adjudicator", "payer-sim", "payer-gateway", "fhir-gateway")
WORKBENCH = "workbench"  # the people's web app and its projector (services/workbench)
CLI = "cli"
CLIENTS = (CODER, SCRUBBER, ADJUDICATOR, PAYER_SIM, PAYER_GATEWAY, FHIR_GATEWAY, WORKBENCH, CLI)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str  # the business id the topic is keyed by
    value: str  # contract name in schemas/, or RAW for dead-letter topics
    doc: str
    partitions: int = 4
    retention_ms: int = RETENTION_30_DAYS
    cleanup_policy: str = "delete"  # or "compact"
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()

    @property
    def is_dlq(self) -> bool:
        return self.value == RAW


ENCOUNTERS = TopicSpec(
    "encounters.v1", "encounter_id", "EncounterEvent", "Encounters published by EHRs and the FHIR gateway.",
    retention_ms=RETENTION_14_DAYS, writers=(FHIR_GATEWAY, CLI), readers=(CODER, WORKBENCH))
ENCOUNTERS_CODED = TopicSpec(
    "encounters.coded.v1", "encounter_id", "CodedEncounter", "Encounters coded by the coder.",
    retention_ms=RETENTION_14_DAYS, writers=(CODER,), readers=(SCRUBBER, WORKBENCH))
ENCOUNTERS_CODED_BY_DAY = TopicSpec(
    "encounters.coded.by-day.v1", "day_key", "CodedEncounter",
    "Scrubber-internal repartition of coded encounters by patient+provider+date (an opaque hash), so cross-claim edits see every claim of a day in one partition.",
    retention_ms=RETENTION_7_DAYS, writers=(SCRUBBER,), readers=(SCRUBBER,))
CODING_REVIEW = TopicSpec(
    "coding.review.v1", "encounter_id", "CodingReviewItem", "Encounters the coder sends to a human coder.",
    retention_ms=RETENTION_30_DAYS, writers=(CODER,), readers=(WORKBENCH,))  # humans work this queue in the workbench
CLAIMS = TopicSpec(
    "claims.v1", "claim_id", "Claim", "Clean (or warning-only) claims ready for submission.",
    writers=(SCRUBBER,), readers=(ADJUDICATOR, PAYER_SIM, PAYER_GATEWAY, WORKBENCH, CLI))
CLAIMS_HELD = TopicSpec(
    "claims.held.v1", "claim_id", "HeldClaim", "Claims held by the scrubber for correction.",
    writers=(SCRUBBER,), readers=(SCRUBBER, ADJUDICATOR, WORKBENCH, CLI))
CLAIMS_CORRECTED = TopicSpec(
    "claims.corrected.v1", "claim_id", "ClaimCorrection",
    "Held claims corrected by billing/coding staff, for the scrubber to re-scrub and release.",
    writers=(SCRUBBER, WORKBENCH, CLI), readers=(SCRUBBER, WORKBENCH))  # scrubber: POST /claims/{id}/corrections
CLAIMS_CORRECTED_BY_DAY = TopicSpec(
    "claims.corrected.by-day.v1", "day_key", "ClaimCorrection",
    "Scrubber-internal: corrections re-keyed by the day_key of the held claim, so they meet that claim's emitted-claims entry.",
    retention_ms=RETENTION_7_DAYS, writers=(SCRUBBER,), readers=(SCRUBBER,))
ADJUDICATIONS = TopicSpec(
    "adjudications.v1", "claim_id", "Adjudication", "Payer adjudications (835 semantics).",
    writers=(PAYER_SIM, PAYER_GATEWAY, CLI), readers=(ADJUDICATOR, WORKBENCH, CLI))
APPEALS = TopicSpec(
    "appeals.v1", "claim_id", "DenialWorkItem", "Denials routed to the appeals work queue.",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR,), readers=(WORKBENCH, CLI))  # appeal deadlines run to 180 days and beyond
CLAIMS_STATUS = TopicSpec(
    "claims.status.v1", "claim_id", "ClaimStatusChanged", "Claim lifecycle transitions.",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR, PAYER_GATEWAY, CLI), readers=(ADJUDICATOR, WORKBENCH, CLI))
CLAIMS_CORRECTIONS = TopicSpec(
    "claims.corrections.v1", "claim_id", "CorrectionRequest", "Denied claims to correct and resubmit.",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR,))
PATIENT_BILLING = TopicSpec(
    "billing.patient.v1", "claim_id", "PatientBill", "Patient responsibility for statements.",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR,))
APPEAL_OUTCOMES = TopicSpec(
    "appeals.outcomes.v1", "claim_id", "AppealOutcome", "Payer decisions on filed appeals.",
    retention_ms=RETENTION_365_DAYS, writers=(PAYER_SIM, WORKBENCH, CLI), readers=(ADJUDICATOR, WORKBENCH))  # workbench: entered by hand
APPEAL_ACTIONS = TopicSpec(
    "appeals.actions.v1", "claim_id", "AppealAction",
    "People's actions on denial work items (assigned, filed, withdrawn, written off, corrected claim sent, resolved).",
    retention_ms=RETENTION_365_DAYS, writers=(WORKBENCH, CLI), readers=(ADJUDICATOR, PAYER_SIM, WORKBENCH))  # the denial worklist
NO_ACTION = TopicSpec(
    "denials.no-action.v1", "claim_id", "NoActionDisposition",
    "Remittance adjustments that need no person, each with the recorded why.",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR,), readers=(WORKBENCH,))
UNDERPAYMENTS = TopicSpec(
    "appeals.underpayments.v1", "claim_id", "UnderpaymentWorkItem",
    "Paid lines whose allowed amount misses the contract's expected allowed beyond tolerance (underpaid, downcoded, overpaid).",
    retention_ms=RETENTION_365_DAYS, writers=(ADJUDICATOR,), readers=(WORKBENCH,))


def _dlq(service: str, doc: str) -> TopicSpec:
    return TopicSpec(f"dlq.{service}.v1", "original key", RAW, doc, partitions=1, retention_ms=RETENTION_30_DAYS,
                     writers=(service,), readers=(CLI,))  # claimflow dlq list/show/replay


DLQ_CODER = _dlq(CODER, "Poison input of the coder.")
DLQ_SCRUBBER = _dlq(SCRUBBER, "Poison input of the scrubber.")
DLQ_ADJUDICATOR = _dlq(ADJUDICATOR, "Poison input of the adjudicator.")
DLQ_PAYER_SIM = _dlq(PAYER_SIM, "Poison input of the payer simulator.")
DLQ_PAYER_GATEWAY = _dlq(PAYER_GATEWAY, "Poison input of the payer gateway (claims it cannot write, X12 files it cannot read).")
DLQ_ACTIONS = TopicSpec(
    "dlq.actions.v1", "dead-letter coordinates", "DlqAction",
    "Operators' replays and discards of dead letters (claimflow dlq); one action per dead letter.",
    partitions=1, retention_ms=RETENTION_6_YEARS, writers=(CLI,), readers=(CLI,))
AUDIT_ACCESS = TopicSpec(
    "audit.access.v1", "record_id", "AccessEvent", "Every read of PHI by a person: who, role, what, when; no content.",
    partitions=1, retention_ms=RETENTION_6_YEARS, writers=(CLI, ADJUDICATOR, WORKBENCH))  # auditors read it
CODING_RESOLUTIONS = TopicSpec(
    "coding.resolutions.v1", "encounter_id", "CodingResolution",
    "Human coders' decisions on review items (workbench), applied by the coder.",
    retention_ms=RETENTION_365_DAYS, writers=(WORKBENCH,), readers=(CODER, WORKBENCH))
DLQ_WORKBENCH = _dlq(WORKBENCH, "Poison input of the workbench projector.")

ALL_TOPICS: tuple[TopicSpec, ...] = (
    ENCOUNTERS,
    ENCOUNTERS_CODED,
    ENCOUNTERS_CODED_BY_DAY,
    CODING_REVIEW,
    CLAIMS,
    CLAIMS_HELD,
    CLAIMS_CORRECTED,
    CLAIMS_CORRECTED_BY_DAY,
    ADJUDICATIONS,
    APPEALS,
    CLAIMS_STATUS,
    CLAIMS_CORRECTIONS,
    PATIENT_BILLING,
    APPEAL_OUTCOMES,
    DLQ_CODER,
    DLQ_SCRUBBER,
    DLQ_ADJUDICATOR,
    DLQ_PAYER_SIM,
    DLQ_PAYER_GATEWAY,
    APPEAL_ACTIONS,
    NO_ACTION,
    UNDERPAYMENTS,
    DLQ_ACTIONS,
    AUDIT_ACCESS,
    CODING_RESOLUTIONS,
    DLQ_WORKBENCH,
)
BY_NAME = {t.name: t for t in ALL_TOPICS}
DLQ_BY_SERVICE = {"coder": DLQ_CODER, "scrubber": DLQ_SCRUBBER, "adjudicator": DLQ_ADJUDICATOR,
                  "payer-sim": DLQ_PAYER_SIM, "payer-gateway": DLQ_PAYER_GATEWAY, "workbench": DLQ_WORKBENCH}


@dataclass(frozen=True)
class TopicConfig:
    """A topic as created on the broker (catalog topics and table changelogs)."""

    name: str
    key: str
    value: str
    partitions: int
    retention_ms: int
    cleanup_policy: str


@dataclass(frozen=True)
class TableSpec:
    """A Faust table: its changelog is partitioned like the topic that feeds it, and is
    written and read by the table's service only."""

    service: str
    table: str
    source: TopicSpec

    def changelog(self, app_id_prefix: str) -> str:
        return f"{app_id_prefix}-{self.service}-{self.table}-changelog"


EMITTED_CLAIMS = TableSpec("scrubber", "emitted-claims", ENCOUNTERS_CODED_BY_DAY)
DAY_HISTORY = TableSpec("scrubber", "day-history", ENCOUNTERS_CODED_BY_DAY)
HELD_INDEX = TableSpec("scrubber", "held-index", CLAIMS_HELD)
CLAIM_LEDGER = TableSpec("adjudicator", "claim-ledger", ADJUDICATIONS)
OVERTURN_MODEL = TableSpec("adjudicator", "overturn-model", ADJUDICATIONS)
REVIEW_PENDING = TableSpec("coder", "review-pending", ENCOUNTERS)
ALL_TABLES: tuple[TableSpec, ...] = (EMITTED_CLAIMS, DAY_HISTORY, HELD_INDEX, CLAIM_LEDGER, OVERTURN_MODEL, REVIEW_PENDING)


def topic_configs(app_id_prefix: str) -> list[TopicConfig]:
    """Every topic to create: the catalog topics, then the table changelogs (compacted,
    kept forever, with the partition count of the topic feeding the table)."""
    configs = [TopicConfig(t.name, t.key, t.value, t.partitions, t.retention_ms, t.cleanup_policy) for t in ALL_TOPICS]
    configs += [TopicConfig(t.changelog(app_id_prefix), t.source.key, "faust table changelog", t.source.partitions, -1, "compact")
                for t in ALL_TABLES]
    return configs


def written_by(client: str) -> list[TopicSpec]:
    return [t for t in ALL_TOPICS if client in t.writers]


def read_by(client: str) -> list[TopicSpec]:
    return [t for t in ALL_TOPICS if client in t.readers]


def partitions_of(spec: TopicSpec) -> int:
    """Partition count of a catalog topic (the spec carries it: no file is read)."""
    return spec.partitions
