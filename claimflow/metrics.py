"""Prometheus metrics shared by every service. Names follow claimflow_<what>_<unit>;
labels are bounded enums (service, outcome, stage, family...), never ids or PHI."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RECORDS_IN = Counter(
    "claimflow_records_in_total",
    "Records consumed, by service and outcome (ok, dead_lettered, duplicate).",
    ["service", "outcome"],
)
RECORDS_OUT = Counter(
    "claimflow_records_out_total",
    "Records produced, by service and destination topic.",
    ["service", "topic"],
)
DEAD_LETTERS = Counter(
    "claimflow_dead_letters_total",
    "Records sent to the dead-letter topic, by service and failing stage.",
    ["service", "stage"],
)
PROCESSING_SECONDS = Histogram(
    "claimflow_processing_seconds",
    "Time to process one consumed record, from decode to produce, in seconds.",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
END_TO_END_SECONDS = Histogram(
    "claimflow_event_age_seconds",
    "Age of a consumed record (now minus its Kafka timestamp) when processing finishes, in seconds.",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CODING_OUTCOMES = Counter(
    "claimflow_coding_outcomes_total",
    "Coder results by outcome (coded, review) .",
    ["outcome"],
)
SCRUB_FINDINGS = Counter(
    "claimflow_scrub_findings_total",
    "Scrubber findings by edit family and severity.",
    ["family", "severity"],
)
SCRUB_OUTCOMES = Counter(
    "claimflow_scrub_outcomes_total",
    "Scrubbed claims by outcome (clean, held, duplicate).",
    ["outcome"],
)
CORRECTIONS = Counter(
    "claimflow_scrub_corrections_total",
    "Corrections of held claims by outcome (submitted_http, released, held_again, duplicate, refused, unauthenticated).",
    ["outcome"],
)
ADJUDICATIONS = Counter(
    "claimflow_adjudications_total",
    "Adjudications posted, by payer id and resulting claim state.",
    ["payer", "state"],
)
DENIALS = Counter(
    "claimflow_denials_total",
    "Denial adjustments by payer id, CAS group code and disposition.",
    ["payer", "group", "disposition"],
)
APPEAL_DOLLARS_AT_RISK = Gauge(
    "claimflow_appeal_dollars_at_risk",
    "Denied dollars on open appeal work items, by days-to-deadline bucket.",
    ["days_to_deadline"],
)
CONSUMER_LAG = Gauge(
    "claimflow_consumer_lag_records",
    "Records between the committed offset and the end of the log, by service and topic.",
    ["service", "topic"],
)
UNHANDLED_RELEASED = Counter(
    "claimflow_rebalance_skipped_records_total",
    "Records Faust skipped during a rebalance and that were left uncommitted to be re-read, by topic.",
    ["topic"],
)
REREAD_REPAIRS = Counter(
    "claimflow_reread_repairs_total",
    "Partitions sought back to re-read a record that was fetched but never handled, by topic.",
    ["topic"],
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST

ADJUDICATION_FINDINGS = Counter(
    "claimflow_adjudication_findings_total",
    "Posting findings (balancing, reversal matching, stale events) by code family.",
    ["code"],
)
UNKNOWN_REASON_CODES = Counter(
    "claimflow_unknown_reason_codes_total",
    "Adjudications carrying CARC/RARC codes missing from the loaded code lists (routed to manual review).",
)
PENDING_REMITTANCES = Gauge(
    "claimflow_pending_remittances",
    "Adjudications waiting for their claim to be seen.",
)
UNMATCHED_REMITTANCES = Counter(
    "claimflow_unmatched_remittances_total",
    "Adjudications dead-lettered because their claim never arrived in time.",
)
APPEAL_BACKLOG = Gauge(
    "claimflow_appeal_backlog_items",
    "Open appeal work items.",
)
PHI_ACCESS = Counter(
    "claimflow_phi_access_total",
    "Reads of PHI records over HTTP, each also recorded on audit.access.v1, by outcome (served, not_found, denied).",
    ["service", "outcome"],
)
