"""Payer contracts: what a payer agreed to allow per line, and how much variance it tolerates.

Read from the ``reimbursement`` section of ``services/adjudicator/data/payers.yaml``:

* ``practices``: billing NPI -> Medicare locality (``STATE-NN``) of the practice location;
* ``contracts``: per payer, either ``basis: medicare_pfs`` with ``percent_of_medicare``
  terms by year and locality (most specific term wins), or ``basis: rate_table`` with a CSV
  of explicit rates (code, modifier, locality, year, rate; ``*`` matches any); per-code
  ``carve_outs`` (a fixed rate, another percent, or ``exclude``); and a ``tolerance`` (dollars
  and/or percent of the expected amount, the larger applies).

A payer without a contract gets no expectation (amount None), which is not "$0"."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

import yaml

from claimflow.models import Claim, ExpectedAllowed
from claimflow.reimbursement.pfs import FeeSchedule
from claimflow.reimbursement.pricing import ConversionFactorChoice, LineInput, Price, cents, price_lines, setting_for_pos

ZERO = Decimal("0.00")
DEFAULT_PAYERS_FILE = Path(__file__).resolve().parent.parent.parent / "services" / "adjudicator" / "data" / "payers.yaml"


class ContractError(ValueError):
    """payers.yaml's reimbursement section or a rate table is malformed."""


def _dec(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ContractError(f"{where}: not a number: {value!r}") from None


@dataclass(frozen=True)
class Tolerance:
    """Shortfall a payer's contract tolerates: the larger of ``amount`` and ``percent`` of expected."""

    amount: Decimal = ZERO
    percent: Decimal = ZERO

    def for_expected(self, expected: Decimal) -> Decimal:
        return max(self.amount, cents(expected * self.percent / 100))


@dataclass(frozen=True)
class PercentTerm:
    percent: Decimal
    year: int | None = None  # None = any year
    locality: str | None = None  # None = any locality

    def specificity(self) -> int:
        return (self.year is not None) * 2 + (self.locality is not None)

    def matches(self, year: int, locality: str) -> bool:
        return (self.year is None or self.year == year) and (self.locality is None or self.locality == locality)

    def describe(self) -> str:
        return f"{self.percent}% of Medicare, {'CY' + str(self.year) if self.year else 'any year'}, {self.locality or 'any locality'}"


@dataclass(frozen=True)
class CarveOut:
    code: str
    rate: Decimal | None = None  # fixed allowed per unit
    percent: Decimal | None = None  # another percent of Medicare
    exclude: bool = False  # paid outside the contract: no expectation


@dataclass(frozen=True)
class RateRow:
    code: str
    modifier: str  # "" = none, "*" = any
    locality: str  # "*" = any
    year: int | None
    rate: Decimal


@dataclass
class RateTable:
    name: str
    version: str
    rows: list[RateRow] = field(default_factory=list)

    def rate(self, code: str, modifiers: Iterable[str], locality: str, year: int) -> RateRow | None:
        mods = [m for m in modifiers if m]
        best: tuple[int, RateRow] | None = None
        for r in self.rows:
            if r.code != code or (r.locality not in ("*", locality)) or (r.year is not None and r.year != year):
                continue
            if r.modifier == "*" or (r.modifier == "" and not mods) or (r.modifier and r.modifier in mods):
                score = (r.modifier not in ("*", "")) * 4 + (r.locality != "*") * 2 + (r.year is not None)
                if best is None or score > best[0]:
                    best = (score, r)
        return best[1] if best else None


def load_rate_table(path: Path | str, version: str | None = None) -> RateTable:
    """Import a payer's rate table CSV (header: code, modifier, locality, year, rate)."""
    p = Path(path)
    table = RateTable(p.name, version or p.stem)
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"code", "rate"} - set(reader.fieldnames or [])
        if missing:
            raise ContractError(f"{p.name}: rate table needs columns {sorted(missing)}")
        for n, rec in enumerate(reader, 2):
            code = (rec.get("code") or "").strip().upper()
            if not code:
                raise ContractError(f"{p.name} line {n}: empty code")
            year = (rec.get("year") or "").strip()
            rate = _dec((rec.get("rate") or "").strip(), f"{p.name} line {n} rate")
            if rate < 0:
                raise ContractError(f"{p.name} line {n}: negative rate")
            table.rows.append(RateRow(code, (rec.get("modifier") or "").strip().upper(), (rec.get("locality") or "*").strip().upper() or "*",
                                      int(year) if year and year != "*" else None, cents(rate)))
    return table


@dataclass
class PayerContract:
    payer_id: str
    basis: str  # medicare_pfs | rate_table
    terms: list[PercentTerm] = field(default_factory=list)
    rate_table: RateTable | None = None
    carve_outs: dict[str, CarveOut] = field(default_factory=dict)
    tolerance: Tolerance = field(default_factory=Tolerance)

    def percent_term(self, year: int, locality: str) -> PercentTerm | None:
        found = [t for t in self.terms if t.matches(year, locality)]
        return max(found, key=PercentTerm.specificity) if found else None


@dataclass
class ContractBook:
    version: str
    practices: dict[str, str]  # billing NPI -> locality
    contracts: dict[str, PayerContract]
    default_locality: str | None = None

    def locality_for(self, billing_npi: str) -> str | None:
        return self.practices.get(billing_npi, self.default_locality)


def parse_contract_book(raw: dict[str, Any], base_dir: Path) -> ContractBook:
    section = raw.get("reimbursement") or {}
    practices = {str(npi): str(p["locality"]).upper() for npi, p in (section.get("practices") or {}).items()}
    contracts: dict[str, PayerContract] = {}
    for payer_id, body in (section.get("contracts") or {}).items():
        where = f"reimbursement.contracts.{payer_id}"
        basis = body.get("basis", "medicare_pfs")
        if basis not in ("medicare_pfs", "rate_table"):
            raise ContractError(f"{where}: basis must be medicare_pfs or rate_table")
        terms = [PercentTerm(_dec(t["percent"], where), int(t["year"]) if t.get("year") else None,
                             str(t["locality"]).upper() if t.get("locality") else None)
                 for t in (body.get("percent_of_medicare") or [])]
        if basis == "medicare_pfs" and not terms:
            terms = [PercentTerm(Decimal("100"))]
        table = None
        if basis == "rate_table":
            if not body.get("rate_table"):
                raise ContractError(f"{where}: basis rate_table needs a rate_table CSV path")
            table = load_rate_table(base_dir / body["rate_table"], body.get("rate_table_version"))
        carve = {}
        for code, c in (body.get("carve_outs") or {}).items():
            c = c or {}
            carve[str(code).upper()] = CarveOut(str(code).upper(), _dec(c["rate"], where) if "rate" in c else None,
                                                _dec(c["percent"], where) if "percent" in c else None, bool(c.get("exclude", False)))
        tol = body.get("tolerance") or {}
        contracts[str(payer_id)] = PayerContract(str(payer_id), basis, terms, table, carve,
                                                 Tolerance(_dec(tol.get("amount", "0"), where), _dec(tol.get("percent", "0"), where)))
    default = section.get("default_locality")
    return ContractBook(str(section.get("version", "")), practices, contracts, str(default).upper() if default else None)


def load_contract_book(path: Path | str = DEFAULT_PAYERS_FILE) -> ContractBook:
    p = Path(path)
    with p.open() as fh:
        return parse_contract_book(yaml.safe_load(fh) or {}, p.parent)


# --- expectations -------------------------------------------------------------------------


def _none(payer_id: str, reason: str, **kw) -> ExpectedAllowed:
    return ExpectedAllowed(amount=None, basis="none", payer_id=payer_id, contract_term=kw.pop("term", "none"),
                           tolerance_amount=ZERO, not_computed_reason=reason, **kw)


@dataclass
class Pricer:
    """Puts the expected allowed amount on every line of a claim (pure: no I/O after load)."""

    book: ContractBook
    fee_schedule: FeeSchedule | None
    cf: ConversionFactorChoice = field(default_factory=ConversionFactorChoice)

    def expectations(self, payer_id: str | None, lines: list[LineInput], *, locality: str | None, place_of_service: str,
                     dos: date) -> dict[int, ExpectedAllowed]:
        payer = payer_id or ""
        contract = self.book.contracts.get(payer)
        if contract is None:
            return {l.line_number: _none(payer, f"no contract on file for payer {payer or '(none)'}") for l in lines}
        if locality is None:
            return {l.line_number: _none(payer, "no Medicare locality for the billing location (practice profile)") for l in lines}
        setting = setting_for_pos(place_of_service)
        prices: dict[int, Price] = {}
        if self.fee_schedule is not None:
            prices = price_lines(self.fee_schedule, lines, locality=locality, setting=setting, dos=dos, cf=self.cf)
        out: dict[int, ExpectedAllowed] = {}
        for l in lines:
            out[l.line_number] = self._line(contract, l, prices.get(l.line_number), locality, setting.value, dos)
        return out

    def _line(self, c: PayerContract, l: LineInput, price: Price | None, locality: str, setting: str, dos: date) -> ExpectedAllowed:
        carve = c.carve_outs.get(l.code.upper())
        common = dict(payer_id=c.payer_id, locality=locality, setting=setting)
        if carve is not None and carve.exclude:
            return _none(c.payer_id, f"{l.code} is carved out of the {c.payer_id} contract (paid outside it)", term=f"{c.payer_id} carve-out {l.code}: excluded", locality=locality, setting=setting)
        if carve is not None and carve.rate is not None:
            amount = cents(carve.rate * l.units)
            if l.charge is not None:
                amount = min(amount, cents(l.charge))
            return ExpectedAllowed(amount=amount, basis="carve_out", contract_term=f"{c.payer_id} carve-out {l.code}: ${carve.rate} per unit",
                                   dataset="payers.yaml", dataset_version=self.book.version, formula=f"{carve.rate} x {l.units}",
                                   inputs={"rate": str(carve.rate), "units": str(l.units)}, tolerance_amount=c.tolerance.for_expected(amount), **common)
        if c.basis == "rate_table":
            assert c.rate_table is not None
            row = c.rate_table.rate(l.code.upper(), l.modifiers, locality, dos.year)
            if row is None:
                return _none(c.payer_id, f"{l.code} is not in the {c.payer_id} rate table {c.rate_table.version}", term=f"{c.payer_id} rate table", locality=locality, setting=setting)
            amount = cents(row.rate * l.units)
            if l.charge is not None:
                amount = min(amount, cents(l.charge))
            return ExpectedAllowed(amount=amount, basis="rate_table", contract_term=f"{c.payer_id} rate table: {row.code}{('-' + row.modifier) if row.modifier else ''} ${row.rate} per unit",
                                   dataset=c.rate_table.name, dataset_version=c.rate_table.version, formula=f"{row.rate} x {l.units}",
                                   inputs={"rate": str(row.rate), "units": str(l.units), "row_locality": row.locality,
                                           "row_year": str(row.year or "*")}, tolerance_amount=c.tolerance.for_expected(amount), **common)
        if price is None:
            return _none(c.payer_id, "no Medicare PFS release loaded (claimflow refdata import pfs)", term=f"{c.payer_id} percent of Medicare", locality=locality, setting=setting)
        if not price.priced:
            return _none(c.payer_id, price.unpriced_reason or "not priced", term=f"{c.payer_id} percent of Medicare",
                         dataset=price.dataset, dataset_version=price.dataset_version, inputs=price.inputs(), locality=locality, setting=setting)
        if carve is not None and carve.percent is not None:
            term, pct = f"{c.payer_id} carve-out {l.code}: {carve.percent}% of Medicare", carve.percent
        else:
            t = c.percent_term(dos.year, locality)
            if t is None:
                return _none(c.payer_id, f"no {c.payer_id} percent-of-Medicare term for CY{dos.year} {locality}", locality=locality, setting=setting)
            term, pct = f"{c.payer_id} {t.describe()}", t.percent
        amount = cents(price.amount * pct / 100)
        if l.charge is not None:
            amount = min(amount, cents(l.charge))
        inputs = {**price.inputs(), "percent_of_medicare": str(pct), "medicare_amount": str(price.amount)}
        return ExpectedAllowed(amount=amount, basis="medicare_pfs", contract_term=term, dataset=price.dataset,
                               dataset_version=price.dataset_version, formula=f"{price.formula} = {price.fee_schedule_amount}; line {price.amount} x {pct}%",
                               inputs=inputs, tolerance_amount=c.tolerance.for_expected(amount), **common)

    def annotate(self, claim: Claim) -> Claim:
        """``claim`` with ``expected_allowed`` set on every line (Claim v2)."""
        payer = claim.coverage.payer_id if claim.coverage else None
        lines = [LineInput(l.line_number, l.procedure_code, tuple(l.modifiers), l.units, l.charge) for l in claim.lines]
        exp = self.expectations(payer, lines, locality=self.book.locality_for(claim.billing_provider.npi),
                                place_of_service=claim.place_of_service, dos=claim.date_of_service)
        return claim.model_copy(update={"lines": [l.model_copy(update={"expected_allowed": exp[l.line_number]}) for l in claim.lines]})


def build_pricer(settings) -> Pricer:
    """The scrubber's pricer from settings: contracts from payers.yaml, the newest imported
    PFS release under ``pfs_dir`` (or ``scrubber_refdata_dir``) when there is one. Without a
    PFS release, percent-of-Medicare lines carry no expectation (rate tables still apply)."""
    from claimflow.reimbursement.pfs import PfsError, load_pfs

    book = load_contract_book(settings.reimbursement_payers_file or DEFAULT_PAYERS_FILE)
    fs = None
    folder = settings.pfs_dir or settings.scrubber_refdata_dir
    if folder is not None:
        try:
            fs = load_pfs(folder)
        except (PfsError, OSError) as exc:
            logging.getLogger("claimflow.reimbursement").warning(
                "no Medicare PFS release loaded from %s (%s): percent-of-Medicare lines carry no expectation", folder, exc)
    return Pricer(book, fs, settings.pfs_cf_choice())
