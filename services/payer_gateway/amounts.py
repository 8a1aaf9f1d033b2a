"""Decimal helpers for X12 R (real) and N (numeric) elements."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from services.payer_gateway.segments import X12SyntaxError

CENT = Decimal("0.01")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")


def money(value: str, what: str, position: int, required: bool = True) -> Decimal | None:
    """Parse an X12 amount to a Decimal with two places (raises X12SyntaxError)."""
    value = value.strip()
    if not value:
        if required:
            raise X12SyntaxError(f"{what} is missing", position)
        return None
    if not _NUMBER.match(value):
        raise X12SyntaxError(f"{what} is not a number", position)
    try:
        d = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - regex guards this
        raise X12SyntaxError(f"{what} is not a number", position) from exc
    q = d.quantize(CENT)
    if abs(q) >= Decimal("1E10"):
        raise X12SyntaxError(f"{what} is too large", position)
    return q


def quantity(value: str, what: str, position: int) -> Decimal | None:
    return money(value, what, position, required=False)


def fmt_amount(value: Decimal) -> str:
    """X12 R format: no superfluous trailing zeros or decimal point ("110", "110.5", "0")."""
    q = Decimal(value).quantize(CENT)
    s = f"{q:f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s
