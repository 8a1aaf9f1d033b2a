"""Deterministic identifiers: the same input always yields the same id, so replays and
duplicates are absorbed downstream. Ids are opaque hashes and carry no PHI."""

from __future__ import annotations

import hashlib


def _digest(*parts: object, size: int = 18) -> str:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return h[:size].upper()


def claim_id(encounter_id: str, encounter_version: int) -> str:
    """CLM01 patient control number (X12 max 38 chars): CF + 18 hex digits."""
    return "CF" + _digest("claim", encounter_id, encounter_version)


def adjudication_id(payer_id: str, claim_id: str, payer_claim_control_number: str, status_code: str, remittance_date,
                    discriminator: str | None = None) -> str:
    """Id of one claim payment. ``discriminator`` separates remittances that repeat every
    other part (an 835 paying the same claim twice on one check with the same payer control
    number, status and date): the 835 reader passes trace number + CLP position for such a
    repeat only. ``None`` (the default) gives the same ids as before it existed."""
    if discriminator is None:
        return "ADJ" + _digest("adj", payer_id, claim_id, payer_claim_control_number, status_code, remittance_date)
    return "ADJ" + _digest("adj", payer_id, claim_id, payer_claim_control_number, status_code, remittance_date, discriminator)


def status_event_id(claim_id: str, trigger_id: str, state: str) -> str:
    return "ST" + _digest("status", claim_id, trigger_id, state)


def work_item_id(adjudication_id: str, rule_id: str) -> str:
    return "WI" + _digest("work", adjudication_id, rule_id)
