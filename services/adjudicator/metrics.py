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
    "Denial decisions by payer id, CAS group code and disposition; patient responsibility (PR deductible, coinsurance, copay) is not a denial and is counted by claimflow_patient_responsibility_total.",
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
DENIAL_WORK_ITEMS = Counter(
    "claimflow_denial_work_items_total",
    "Denial work items opened, by kind (appeal, corrected_claim, verify_duplicate, ...).",
    ["kind"],
)
NO_ACTION_DISPOSITIONS = Counter(
    "claimflow_no_action_dispositions_total",
    "Denial adjustments recorded as needing no person, by disposition.",
    ["disposition"],
)
APPEAL_ACTIONS = Counter(
    "claimflow_appeal_actions_total",
    "People's actions on work items, by action and result (applied, duplicate, refused).",
    ["action", "result"],
)
APPEAL_OUTCOMES = Counter(
    "claimflow_appeal_outcomes_total",
    "Appeal outcomes applied, by outcome (overturned, partially_overturned, upheld, withdrawn, refused).",
    ["outcome"],
)

# Expected reimbursement (posting compares allowed with the contract's expectation).
# Labels are payer ids (a small set of organisations) and the work item kind; never PHI.
EXPECTED_ALLOWED_DOLLARS = Counter(
    "claimflow_expected_allowed_dollars_total",
    "Expected allowed dollars (contract) over compared 835 lines, by payer.", ["payer"])
ALLOWED_DOLLARS = Counter(
    "claimflow_allowed_dollars_total",
    "Payer allowed dollars (AMT*B6, else paid + patient responsibility) over compared 835 lines, by payer.", ["payer"])
PAID_DOLLARS = Counter(
    "claimflow_paid_dollars_total",
    "Payer paid dollars (SVC03) over compared 835 lines, by payer.", ["payer"])
UNDERPAYMENT_DOLLARS = Counter(
    "claimflow_underpayment_dollars_total",
    "Dollars of underpayment work items opened (recoverable; refund exposure for kind=overpaid), by payer and kind.", ["payer", "kind"])
UNDERPAYMENT_ITEMS = Counter(
    "claimflow_underpayment_items_total",
    "Underpayment work items opened, by payer and kind (underpaid, downcoded, overpaid).", ["payer", "kind"])
OPEN_UNDERPAYMENT_DOLLARS = Gauge(
    "claimflow_open_underpayment_dollars",
    "Open underpayment dollars on this worker's ledger partitions, by payer and kind.", ["payer", "kind"])
PATIENT_RESPONSIBILITY = Counter(
    "claimflow_patient_responsibility_total",
    "Patient-responsibility decisions (bill the patient) by payer id and reason family (deductible, coinsurance, copay...).",
    ["payer", "family"],
)
PHI_ACCESS = Counter(
    "claimflow_phi_access_total",
    "Reads of PHI records over HTTP, each also recorded on audit.access.v1, by outcome (allowed, not_found, denied).",
    ["service", "outcome"],
)
