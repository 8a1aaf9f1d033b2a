"""Click parameter types that validate at the edge of the CLI, so a bad value is one line
("Invalid value for '--billing-npi': ...") and never reaches a model or a pydantic dump."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import click


class NpiType(click.ParamType):
    """A 10-digit NPI whose check digit is right (Luhn over 80840 + the first 9 digits)."""

    name = "NPI"

    def convert(self, value, param, ctx):
        from services.scrubber.edits import npi_is_valid

        text = str(value).strip()
        if not (len(text) == 10 and text.isdigit()):
            self.fail("an NPI is 10 digits", param, ctx)
        if not npi_is_valid(text):
            self.fail(f"{text} fails the NPI check digit (Luhn over 80840 + the first 9 digits)", param, ctx)
        return text


class MoneyType(click.ParamType):
    """A non-negative amount with at most 2 decimals, as Decimal (never float)."""

    name = "AMOUNT"

    def convert(self, value, param, ctx):
        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount like 120.00", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail("an amount is a number of 0 or more", param, ctx)
        if amount.as_tuple().exponent < -2:
            self.fail("an amount has at most 2 decimals", param, ctx)
        return amount.quantize(Decimal("0.01"))


NPI = NpiType()
MONEY = MoneyType()
