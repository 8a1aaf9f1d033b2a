"""Cross-claim state the scrubber reads (MUE MAI 2/3 across claims, duplicate claims).

The pure logic only sees the ``ClaimHistory`` protocol; the Faust shell implements it with
tables keyed by ``day_key`` (a non-PHI hash of patient id, billing NPI, rendering NPI and
date of service) and applies ``HistoryUpdates`` once the claim is emitted.
``InMemoryClaimHistory`` is the implementation for tests, the demo and the benchmark."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Protocol

DEFAULT_DAY_KEY_SECRET = b"claimflow-scrubber-day-key-v1"


def make_day_key(patient_id: str, billing_npi: str, rendering_npi: str, dos: date,
                 secret: bytes = DEFAULT_DAY_KEY_SECRET) -> str:
    """Keyed hash (HMAC-SHA256, 128 bits hex) of patient + providers + date of service.
    Deploy with a secret of your own so the key cannot be recomputed from known data."""
    msg = "\x1f".join((patient_id, billing_npi, rendering_npi, dos.isoformat())).encode()
    return "DK" + hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32].upper()


def line_signature(code: str, modifiers: Iterable[str], units: int) -> str:
    """Duplicate-detection signature of a service line: code, modifiers (order-free), units."""
    msg = "\x1f".join((code, ",".join(sorted(m.upper() for m in modifiers)), str(units))).encode()
    return "LS" + hashlib.sha256(msg).hexdigest()[:24].upper()


class ClaimHistory(Protocol):
    """What the scrubber needs to know about claims already emitted for the same day_key."""

    def units_billed(self, day_key: str, code: str) -> int:
        """Units of ``code`` already billed on emitted claims for this patient/provider/DOS."""
        ...

    def has_signature(self, day_key: str, signature: str) -> bool:
        """Whether a service line with this signature was already billed for the day_key."""
        ...


@dataclass(frozen=True)
class HistoryUpdates:
    """What to record once the claim is emitted (nothing for a held claim).

    ``units``: code -> units to ADD to ``units_billed(day_key, code)``;
    ``signatures``: line signatures to mark as seen for ``day_key``;
    ``claim_id``: the claim these came from (lets a shell make the update idempotent)."""

    day_key: str
    claim_id: str
    units: dict[str, int] = field(default_factory=dict)
    signatures: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.units and not self.signatures


class InMemoryClaimHistory:
    """Dict-backed ClaimHistory. ``record`` is idempotent per (claim_id, day_key)."""

    def __init__(self) -> None:
        self._units: dict[tuple[str, str], int] = {}
        self._signatures: set[tuple[str, str]] = set()
        self._applied: set[tuple[str, str]] = set()

    def units_billed(self, day_key: str, code: str) -> int:
        return self._units.get((day_key, code), 0)

    def has_signature(self, day_key: str, signature: str) -> bool:
        return (day_key, signature) in self._signatures

    def record(self, updates: HistoryUpdates | None) -> None:
        if updates is None or updates.empty:
            return
        marker = (updates.claim_id, updates.day_key)
        if marker in self._applied:
            return
        self._applied.add(marker)
        for code, n in updates.units.items():
            self._units[(updates.day_key, code)] = self._units.get((updates.day_key, code), 0) + n
        for s in updates.signatures:
            self._signatures.add((updates.day_key, s))


class EmptyClaimHistory:
    """A history that has never seen a claim (stateless convenience ``scrub``)."""

    def units_billed(self, day_key: str, code: str) -> int:
        return 0

    def has_signature(self, day_key: str, signature: str) -> bool:
        return False
