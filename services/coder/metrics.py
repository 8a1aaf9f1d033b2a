"""The coder's own Prometheus metrics (the shared ones are in claimflow/metrics.py).
Labels are bounded enums, never ids or PHI."""

from __future__ import annotations

from prometheus_client import Counter

CODING_OUTCOMES = Counter(
    "claimflow_coding_outcomes_total",
    "Coder results by outcome (coded, learned: coded with a mapping learned from coders, review).",
    ["outcome"],
)

LEARNED_DECISIONS = Counter(
    "claimflow_coder_learned_decisions_total",
    "Concept decisions recorded from applied coder resolutions (learning from coders).",
)
