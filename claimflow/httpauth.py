"""Bearer-token check shared by every HTTP write endpoint (FHIR gateway, scrubber corrections)."""

from __future__ import annotations

import hmac
from typing import Mapping

from pydantic import SecretStr


def bearer_ok(headers: Mapping[str, str], token: SecretStr | None) -> bool:
    """True when no token is configured, or the Authorization header carries exactly it
    (constant-time comparison)."""
    if token is None:
        return True
    expected = ("Bearer " + token.get_secret_value()).encode()
    presented = headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(presented, expected)
