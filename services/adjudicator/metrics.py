"""The adjudicator's own Prometheus metrics (the shared ones are in claimflow/metrics.py).
Labels are bounded: payer ids (organisations, never patients), CAS group codes, claim
states, dispositions, deadline buckets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
