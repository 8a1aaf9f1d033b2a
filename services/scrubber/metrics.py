"""The scrubber's own Prometheus metrics (the shared ones are in claimflow/metrics.py).
Labels are bounded enums (edit family, severity, outcome), never ids or PHI."""

from __future__ import annotations

from prometheus_client import Counter

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
