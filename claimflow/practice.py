"""The practice profile: who bills and who submits, for what an EHR export lacks (pure).

One YAML file (``deploy/practice.yaml`` by default, ``$CLAIMFLOW_PRACTICE_PROFILE`` to use
another) holds the billing provider (NPI, TIN, name, NUCC taxonomy, address: 837P loop
2010AA) and the 837 submitter identity (loop 1000A and the contact). The FHIR mapping fills
a billing provider's empty NPI / tax id / taxonomy from it (with a warning on the entry),
and the payer gateway takes the submitter and billing address from it (a ``gateway.yaml``
in the X12 state folder may still override single keys and adds the receivers)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from claimflow.models import Address

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "deploy" / "practice.yaml"
_NPI_RE = re.compile(r"^[0-9]{10}$")
_TIN_RE = re.compile(r"^[0-9]{9}$")
_TAXONOMY_RE = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")


class PracticeProfileError(ValueError):
    pass


def npi_check_digit_ok(npi: str) -> bool:
    """Luhn check over the prefix 80840 + the first nine digits (CMS NPI rule)."""
    if not _NPI_RE.match(npi):
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


@dataclass(frozen=True)
class PracticeProfile:
    billing_npi: str
    billing_name: str
    billing_tax_id: str
    billing_taxonomy: str | None
    billing_address: Address
    submitter_id: str
    submitter_name: str
    contact_name: str
    contact_phone: str
    usage_indicator: str = "T"
    source: str = ""

    def gateway_defaults(self) -> dict[str, Any]:
        """The 837P envelope keys the payer gateway reads."""
        return {"submitter_id": self.submitter_id, "submitter_name": self.submitter_name, "contact_name": self.contact_name,
                "contact_phone": self.contact_phone, "billing_address": self.billing_address.model_dump(),
                "usage_indicator": self.usage_indicator}


def parse(raw: dict[str, Any], source: str = "") -> PracticeProfile:
    try:
        b, s = raw["billing_provider"], raw["submitter"]
        npi, tin = str(b["npi"]), str(b["tax_id"]).replace("-", "")
        taxonomy = str(b["taxonomy"]) if b.get("taxonomy") else None
        address = Address(**b["address"])
        profile = PracticeProfile(npi, str(b["name"]), tin, taxonomy, address, str(s["id"]), str(s["name"]),
                                  str(s["contact_name"]), str(s["contact_phone"]), str(s.get("usage_indicator", "T")), source)
    except (KeyError, TypeError) as exc:
        raise PracticeProfileError(f"practice profile {source}: missing or malformed key {exc}") from None
    except ValueError as exc:
        raise PracticeProfileError(f"practice profile {source}: {type(exc).__name__} in the address") from None
    if not npi_check_digit_ok(profile.billing_npi):
        raise PracticeProfileError(f"practice profile {source}: billing_provider.npi fails the NPI check digit")
    if not _TIN_RE.match(profile.billing_tax_id):
        raise PracticeProfileError(f"practice profile {source}: billing_provider.tax_id must be 9 digits")
    if taxonomy and not _TAXONOMY_RE.match(taxonomy):
        raise PracticeProfileError(f"practice profile {source}: billing_provider.taxonomy is not a NUCC code")
    if profile.usage_indicator not in ("T", "P"):
        raise PracticeProfileError(f"practice profile {source}: submitter.usage_indicator must be T or P")
    return profile


def load(path: Path | str | None = None) -> PracticeProfile:
    p = Path(path or os.environ.get("CLAIMFLOW_PRACTICE_PROFILE") or DEFAULT_PATH)
    return parse(yaml.safe_load(p.read_text()) or {}, str(p))
