"""The payer gateway's own Prometheus metrics (the shared ones are in claimflow/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

X12_FILES = Counter(
    "claimflow_x12_files_total",
    "X12 files handled by the payer gateway, by direction, kind (837, 835, 277, 999, invalid) and outcome.",
    ["direction", "kind", "outcome"],
)

X12_STRUCTURAL_WARNINGS = Counter(
    "claimflow_x12_structural_warnings_total",
    "X12 transaction sets posted despite a tolerated envelope problem (e.g. SE01 segment count), by finding code.",
    ["code"],
)
