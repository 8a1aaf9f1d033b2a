"""The one topic registry: every topic with its key and value contract.

Services import these constants; no topic name is written anywhere else. Operational
settings (partitions, retention, cleanup) live in ``deploy/topics.yaml``; a unit test
proves the two agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CATALOG_PATH = Path(__file__).resolve().parent.parent / "deploy" / "topics.yaml"
RAW = "original bytes"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str  # the business id the topic is keyed by
    value: str  # contract name in schemas/, or RAW for dead-letter topics
    doc: str

    @property
    def is_dlq(self) -> bool:
        return self.value == RAW


ENCOUNTERS = TopicSpec("encounters.v1", "encounter_id", "EncounterEvent", "Encounters published by EHRs and the FHIR gateway.")
ENCOUNTERS_CODED = TopicSpec("encounters.coded.v1", "encounter_id", "CodedEncounter", "Encounters coded by the coder.")
ENCOUNTERS_CODED_BY_DAY = TopicSpec("encounters.coded.by-day.v1", "day_key", "CodedEncounter",
                                    "Scrubber-internal repartition of coded encounters by patient+provider+date (an opaque hash), so cross-claim edits see every claim of a day in one partition.")
CODING_REVIEW = TopicSpec("coding.review.v1", "encounter_id", "CodingReviewItem", "Encounters the coder sends to a human coder.")
CLAIMS = TopicSpec("claims.v1", "claim_id", "Claim", "Clean (or warning-only) claims ready for submission.")
CLAIMS_HELD = TopicSpec("claims.held.v1", "claim_id", "HeldClaim", "Claims held by the scrubber for correction.")
CLAIMS_CORRECTED = TopicSpec("claims.corrected.v1", "claim_id", "ClaimCorrection",
                             "Held claims corrected by billing/coding staff, for the scrubber to re-scrub and release.")
CLAIMS_CORRECTED_BY_DAY = TopicSpec("claims.corrected.by-day.v1", "day_key", "ClaimCorrection",
                                    "Scrubber-internal: corrections re-keyed by the day_key of the held claim, so they meet that claim's emitted-claims entry.")
ADJUDICATIONS = TopicSpec("adjudications.v1", "claim_id", "Adjudication", "Payer adjudications (835 semantics).")
APPEALS = TopicSpec("appeals.v1", "claim_id", "DenialWorkItem", "Denials routed to the appeals work queue.")
CLAIMS_STATUS = TopicSpec("claims.status.v1", "claim_id", "ClaimStatusChanged", "Claim lifecycle transitions.")
CLAIMS_CORRECTIONS = TopicSpec("claims.corrections.v1", "claim_id", "CorrectionRequest", "Denied claims to correct and resubmit.")
PATIENT_BILLING = TopicSpec("billing.patient.v1", "claim_id", "PatientBill", "Patient responsibility for statements.")
APPEAL_OUTCOMES = TopicSpec("appeals.outcomes.v1", "claim_id", "AppealOutcome", "Payer decisions on filed appeals.")
DLQ_CODER = TopicSpec("dlq.coder.v1", "original key", RAW, "Poison input of the coder.")
DLQ_SCRUBBER = TopicSpec("dlq.scrubber.v1", "original key", RAW, "Poison input of the scrubber.")
DLQ_ADJUDICATOR = TopicSpec("dlq.adjudicator.v1", "original key", RAW, "Poison input of the adjudicator.")
DLQ_PAYER_SIM = TopicSpec("dlq.payer-sim.v1", "original key", RAW, "Poison input of the payer simulator.")
CODING_RESOLUTIONS = TopicSpec("coding.resolutions.v1", "encounter_id", "CodingResolution",
                               "Human coders' decisions on review items (workbench), applied by the coder.")
AUDIT_ACCESS = TopicSpec("audit.access.v1", "record_id", "AccessEvent", "Who read which PHI record when (no PHI inside); 6-year retention.")
DLQ_WORKBENCH = TopicSpec("dlq.workbench.v1", "original key", RAW, "Poison input of the workbench projector.")
DLQ_PAYER_GATEWAY = TopicSpec("dlq.payer-gateway.v1", "original key", RAW, "Poison input of the payer gateway (claims it cannot write, X12 files it cannot read).")

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
    CODING_RESOLUTIONS,
    AUDIT_ACCESS,
    DLQ_WORKBENCH,
)
BY_NAME = {t.name: t for t in ALL_TOPICS}
DLQ_BY_SERVICE = {"coder": DLQ_CODER, "scrubber": DLQ_SCRUBBER, "adjudicator": DLQ_ADJUDICATOR,
                  "payer-sim": DLQ_PAYER_SIM, "payer-gateway": DLQ_PAYER_GATEWAY, "workbench": DLQ_WORKBENCH}


@dataclass(frozen=True)
class TopicConfig:
    name: str
    key: str
    value: str
    partitions: int
    retention_ms: int
    cleanup_policy: str


@dataclass(frozen=True)
class TableSpec:
    """A Faust table: its changelog is partitioned like the topic that feeds it."""

    service: str
    table: str
    source: TopicSpec

    def changelog(self, app_id_prefix: str) -> str:
        return f"{app_id_prefix}-{self.service}-{self.table}-changelog"


EMITTED_CLAIMS = TableSpec("scrubber", "emitted-claims", ENCOUNTERS_CODED_BY_DAY)
DAY_HISTORY = TableSpec("scrubber", "day-history", ENCOUNTERS_CODED_BY_DAY)
HELD_INDEX = TableSpec("scrubber", "held-index", CLAIMS_HELD)
CLAIM_LEDGER = TableSpec("adjudicator", "claim-ledger", ADJUDICATIONS)
REVIEW_PENDING = TableSpec("coder", "review-pending", ENCOUNTERS)
ALL_TABLES: tuple[TableSpec, ...] = (EMITTED_CLAIMS, DAY_HISTORY, HELD_INDEX, CLAIM_LEDGER, REVIEW_PENDING)


def load_tables(path: Path = CATALOG_PATH) -> list[tuple[str, str, str]]:
    """(service, table, source topic) rows of the catalog's tables section."""
    with path.open() as fh:
        doc = yaml.safe_load(fh)
    return [(t["service"], t["table"], t["source"]) for t in doc.get("tables", [])]


def load_catalog(path: Path = CATALOG_PATH) -> tuple[int, list[TopicConfig]]:
    """Return (default replication factor, topic configs) from deploy/topics.yaml."""
    with path.open() as fh:
        doc: dict[str, Any] = yaml.safe_load(fh)
    rf = int(doc.get("defaults", {}).get("replication_factor", 1))
    topics = [
        TopicConfig(
            name=t["name"],
            key=t["key"],
            value=t["value"],
            partitions=int(t["partitions"]),
            retention_ms=int(t["retention_ms"]),
            cleanup_policy=t["cleanup_policy"],
        )
        for t in doc["topics"]
    ]
    return rf, topics


def partitions_of(spec: TopicSpec) -> int:
    for cfg in load_catalog()[1]:
        if cfg.name == spec.name:
            return cfg.partitions
    raise KeyError(spec.name)
