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
    # who writes and who reads the topic: claimflow service names, or "operator" for the
    # command line tools people run (publish, claims show/correct). The Kafka ACLs of each
    # service principal are generated from these (claimflow/acls.py).
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()

    @property
    def is_dlq(self) -> bool:
        return self.value == RAW


ENCOUNTERS = TopicSpec("encounters.v1", "encounter_id", "EncounterEvent", "Encounters published by EHRs and the FHIR gateway.",
                       writers=("fhir-gateway", "operator"), readers=("coder",))
ENCOUNTERS_CODED = TopicSpec("encounters.coded.v1", "encounter_id", "CodedEncounter", "Encounters coded by the coder.",
                             writers=("coder",), readers=("scrubber",))
ENCOUNTERS_CODED_BY_DAY = TopicSpec("encounters.coded.by-day.v1", "day_key", "CodedEncounter",
                                    "Scrubber-internal repartition of coded encounters by patient+provider+date (an opaque hash), so cross-claim edits see every claim of a day in one partition.",
                                    writers=("scrubber",), readers=("scrubber",))
CODING_REVIEW = TopicSpec("coding.review.v1", "encounter_id", "CodingReviewItem", "Encounters the coder sends to a human coder.",
                          writers=("coder",))
CLAIMS = TopicSpec("claims.v1", "claim_id", "Claim", "Clean (or warning-only) claims ready for submission.",
                   writers=("scrubber",), readers=("adjudicator", "payer-sim", "payer-gateway", "operator"))
CLAIMS_HELD = TopicSpec("claims.held.v1", "claim_id", "HeldClaim", "Claims held by the scrubber for correction.",
                        writers=("scrubber",), readers=("scrubber", "adjudicator", "operator"))
CLAIMS_CORRECTED = TopicSpec("claims.corrected.v1", "claim_id", "ClaimCorrection",
                             "Held claims corrected by billing/coding staff, for the scrubber to re-scrub and release.",
                             writers=("scrubber", "operator"), readers=("scrubber",))
CLAIMS_CORRECTED_BY_DAY = TopicSpec("claims.corrected.by-day.v1", "day_key", "ClaimCorrection",
                                    "Scrubber-internal: corrections re-keyed by the day_key of the held claim, so they meet that claim's emitted-claims entry.",
                                    writers=("scrubber",), readers=("scrubber",))
ADJUDICATIONS = TopicSpec("adjudications.v1", "claim_id", "Adjudication", "Payer adjudications (835 semantics).",
                          writers=("payer-sim", "payer-gateway", "operator"), readers=("adjudicator",))
APPEALS = TopicSpec("appeals.v1", "claim_id", "DenialWorkItem", "Denials routed to the appeals work queue.",
                    writers=("adjudicator",))
CLAIMS_STATUS = TopicSpec("claims.status.v1", "claim_id", "ClaimStatusChanged", "Claim lifecycle transitions.",
                          writers=("adjudicator", "payer-gateway"), readers=("adjudicator",))
CLAIMS_CORRECTIONS = TopicSpec("claims.corrections.v1", "claim_id", "CorrectionRequest", "Denied claims to correct and resubmit.",
                               writers=("adjudicator",))
PATIENT_BILLING = TopicSpec("billing.patient.v1", "claim_id", "PatientBill", "Patient responsibility for statements.",
                            writers=("adjudicator",))
APPEAL_OUTCOMES = TopicSpec("appeals.outcomes.v1", "claim_id", "AppealOutcome", "Payer decisions on filed appeals.",
                            readers=("adjudicator",))
DLQ_CODER = TopicSpec("dlq.coder.v1", "original key", RAW, "Poison input of the coder.", writers=("coder",), readers=("operator",))
DLQ_SCRUBBER = TopicSpec("dlq.scrubber.v1", "original key", RAW, "Poison input of the scrubber.", writers=("scrubber",), readers=("operator",))
DLQ_ADJUDICATOR = TopicSpec("dlq.adjudicator.v1", "original key", RAW, "Poison input of the adjudicator.", writers=("adjudicator",), readers=("operator",))
DLQ_PAYER_SIM = TopicSpec("dlq.payer-sim.v1", "original key", RAW, "Poison input of the payer simulator.", writers=("payer-sim",), readers=("operator",))
DLQ_PAYER_GATEWAY = TopicSpec("dlq.payer-gateway.v1", "original key", RAW, "Poison input of the payer gateway (claims it cannot write, X12 files it cannot read).",
                              writers=("payer-gateway",), readers=("operator",))
AUDIT_ACCESS = TopicSpec("audit.access.v1", "record_id", "AccessEvent", "Who read which PHI record, when (no PHI); kept 6 years.",
                         writers=("adjudicator", "operator"))

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
    AUDIT_ACCESS,
)
BY_NAME = {t.name: t for t in ALL_TOPICS}
DLQ_BY_SERVICE = {"coder": DLQ_CODER, "scrubber": DLQ_SCRUBBER, "adjudicator": DLQ_ADJUDICATOR,
                  "payer-sim": DLQ_PAYER_SIM, "payer-gateway": DLQ_PAYER_GATEWAY}


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
ALL_TABLES: tuple[TableSpec, ...] = (EMITTED_CLAIMS, DAY_HISTORY, HELD_INDEX, CLAIM_LEDGER)


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
