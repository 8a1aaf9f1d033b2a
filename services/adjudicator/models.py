"""Adjudicator output models. They are Avro contracts now (schemas/CorrectionRequest,
PatientBill, AppealOutcome) and live in claimflow.models; re-exported here."""

from __future__ import annotations

from claimflow.ids import _digest
from claimflow.models import AppealOutcome, AppealOutcomeKind, CorrectionRequest, PatientBill  # noqa: F401


def local_id(prefix: str, *parts: object) -> str:
    """Deterministic opaque id (same scheme as ``claimflow.ids``; no PHI in the input)."""
    return prefix + _digest(*parts)
