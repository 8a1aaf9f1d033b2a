"""Adjudicator output models. They are Avro contracts now (schemas/CorrectionRequest,
PatientBill, AppealOutcome) and live in claimflow.models; re-exported here."""

from __future__ import annotations

import hashlib

from claimflow.models import AppealOutcome, AppealOutcomeKind, CorrectionRequest, PatientBill  # noqa: F401


def local_id(prefix: str, *parts: object) -> str:
    """Deterministic opaque id (same scheme as ``claimflow.ids``; no PHI in the input)."""
    return prefix + hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:18].upper()
