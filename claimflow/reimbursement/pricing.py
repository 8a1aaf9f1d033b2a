"""Medicare PFS pricing as pure functions over a loaded ``FeeSchedule``.

Each rule names its source. Abbreviations: RVU25D = the CMS RVU file documentation shipped
in the bundle (record layout + Attachment A); MCPM 12 = Medicare Claims Processing Manual
(Pub. 100-04), Chapter 12, Physicians/Nonphysician Practitioners.

Order of operations (MCPM 12 §40.7 B: "apply the bilateral adjustment before applying any
multiple procedure rules"): component row (26/TC/53) -> fee schedule amount for one unit,
rounded to the cent -> bilateral -> assistant / co-surgeon -> multiple-procedure rank ->
units -> lower of the actual charge. Every percentage is applied to an amount already in
cents and rounded half-up to the cent again, the way the MPFSDB's published amounts are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Iterable, Sequence

from claimflow.reimbursement.pfs import STATUS_MEANINGS, FeeSchedule, RvuRow

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Setting(str, Enum):
    FACILITY = "facility"
    NONFACILITY = "nonfacility"


# MCPM 12 §20.4.2 (site-of-service payment differential): services in these places of
# service are paid at the facility rate; every other place of service at the non-facility rate.
FACILITY_POS = frozenset({"02", "19", "21", "22", "23", "24", "26", "31", "34", "41", "42", "51", "52", "53", "56", "61"})


def setting_for_pos(place_of_service: str) -> Setting:
    return Setting.FACILITY if place_of_service in FACILITY_POS else Setting.NONFACILITY


# CY2026 PFS final rule: two conversion factors (qualifying APM participants and everyone
# else). Used when a date of service falls in 2026 and only an earlier RVU file is loaded;
# the settings can override both values.
CY2026_CONVERSION_FACTORS = {"qualifying_apm": Decimal("33.5675"), "non_qualifying": Decimal("33.4009")}

COMPONENT_MODIFIERS = ("26", "TC", "53")
ASSISTANT_MODIFIERS = ("80", "81", "82", "AS")
ASSISTANT_SHARE = Decimal("0.16")  # MCPM 12 §20.4.3: assistant at surgery, 16% of the fee schedule amount
NPP_ASSISTANT_SHARE = Decimal("0.85")  # MCPM 12 §110.2 / §20.4.3: AS = 85% of the physician assistant amount
CO_SURGEON_SHARE = Decimal("0.625")  # MCPM 12 §40.8 B: each co-surgeon gets 62.5% of the fee schedule amount
BILATERAL_150 = Decimal("1.50")  # RVU25D bilateral indicator 1 / MCPM 12 §40.7 B
MPPR_RANKS = {  # RVU25D multiple procedure indicator: share by rank (1st, 2nd, ...; the last repeats)
    "1": (Decimal("1.00"), Decimal("0.50"), Decimal("0.25")),
    "2": (Decimal("1.00"), Decimal("0.50")),
    "3": (Decimal("1.00"), Decimal("0.50")),  # endoscopies ranked as families, see mppr()
}


@dataclass(frozen=True)
class Adjustment:
    rule: str  # e.g. "bilateral-150"
    factor: Decimal
    source: str  # citation


@dataclass(frozen=True)
class Price:
    """The expected Medicare allowed amount of one line, or why there is none."""

    code: str
    modifiers: tuple[str, ...]
    locality: str
    setting: Setting
    units: int
    amount: Decimal | None  # None = not priced (never "$0" by default)
    unpriced_reason: str | None = None
    status: str | None = None
    status_meaning: str | None = None
    row_modifier: str = ""  # which PPRRVU row priced it ("", 26, TC, 53)
    work_rvu: Decimal = ZERO
    pe_rvu: Decimal = ZERO
    mp_rvu: Decimal = ZERO
    work_gpci: Decimal = ZERO
    pe_gpci: Decimal = ZERO
    mp_gpci: Decimal = ZERO
    conversion_factor: Decimal = ZERO
    conversion_factor_source: str = ""
    fee_schedule_amount: Decimal | None = None  # one unit, before modifier rules
    adjustments: tuple[Adjustment, ...] = ()
    dataset: str = ""
    dataset_version: str = ""
    notes: tuple[str, ...] = ()
    mult_proc: str = "9"

    @property
    def priced(self) -> bool:
        return self.amount is not None

    @property
    def formula(self) -> str:
        return (f"[({self.work_rvu} x {self.work_gpci}) + ({self.pe_rvu} x {self.pe_gpci}) + ({self.mp_rvu} x {self.mp_gpci})]"
                f" x {self.conversion_factor}")

    def inputs(self) -> dict[str, str]:
        """Everything the amount was computed from, as strings (for provenance)."""
        out = {"dataset": self.dataset, "version": self.dataset_version, "locality": self.locality,
               "setting": self.setting.value, "row": f"{self.code}{('-' + self.row_modifier) if self.row_modifier else ''}",
               "status": self.status or "", "work_rvu": str(self.work_rvu), "pe_rvu": str(self.pe_rvu),
               "mp_rvu": str(self.mp_rvu), "work_gpci": str(self.work_gpci), "pe_gpci": str(self.pe_gpci),
               "mp_gpci": str(self.mp_gpci), "conversion_factor": str(self.conversion_factor),
               "conversion_factor_source": self.conversion_factor_source, "units": str(self.units),
               "fee_schedule_amount": str(self.fee_schedule_amount) if self.fee_schedule_amount is not None else ""}
        for a in self.adjustments:
            out[f"adj:{a.rule}"] = str(a.factor)
        return out


@dataclass(frozen=True)
class ConversionFactorChoice:
    """Which conversion factor a date of service gets (the file's own, or a setting)."""

    overrides: dict[int, Decimal] = field(default_factory=dict)  # year -> CF (settings)
    qualifying_apm: bool = False  # CY2026 and later: QP conversion factor or not

    def resolve(self, fs: FeeSchedule, dos: date | None) -> tuple[Decimal | None, str]:
        year = dos.year if dos else fs.info.year
        if year in self.overrides:
            return self.overrides[year], f"setting CY{year}"
        if year == fs.info.year:
            return fs.info.conversion_factor, f"{fs.info.version} file"
        if year == 2026:
            kind = "qualifying_apm" if self.qualifying_apm else "non_qualifying"
            return CY2026_CONVERSION_FACTORS[kind], f"CY2026 final rule ({kind.replace('_', ' ')})"
        return None, f"no conversion factor for CY{year} (loaded {fs.info.label})"


def _unpriced(base: dict, reason: str, row: RvuRow | None = None) -> Price:
    if row is not None:
        base.update(status=row.status, status_meaning=STATUS_MEANINGS.get(row.status))
    return Price(amount=None, unpriced_reason=reason, **base)


def price_line(fs: FeeSchedule, code: str, modifiers: Sequence[str] = (), *, locality: str, setting: Setting | str,
               units: int = 1, dos: date | None = None, cf: ConversionFactorChoice | None = None) -> Price:
    """Expected allowed amount of one line on its own (no multiple-procedure ranking: use
    ``price_lines`` for a claim)."""
    setting = Setting(setting)
    mods = tuple(m.upper() for m in modifiers if m)
    code = code.upper()
    base = dict(code=code, modifiers=mods, locality=locality.upper(), setting=setting, units=units,
                dataset=fs.info.dataset, dataset_version=fs.info.version)
    if units < 1:
        return _unpriced(base, "units must be at least 1")
    global_row = fs.row(code)
    if global_row is None and not any(fs.row(code, m) for m in COMPONENT_MODIFIERS):
        return _unpriced(base, f"{code} is not in {fs.info.version}")
    component = next((m for m in mods if m in COMPONENT_MODIFIERS), "")
    row = fs.row(code, component) if component else global_row
    if row is None:
        # RVU25D Attachment A, PC/TC indicator: 26 and TC rows exist only for indicator 1 (and
        # 26 for 6); other indicators say "modifiers 26 and TC cannot be used with these codes".
        ind = global_row.pctc if global_row else "?"
        return _unpriced(base, f"{code}-{component} has no row in {fs.info.version} (PC/TC indicator {ind}: modifier {component} cannot be used)", global_row)
    base.update(row_modifier=row.modifier, status=row.status, status_meaning=STATUS_MEANINGS.get(row.status), mult_proc=row.mult_proc)
    if not row.payable:
        # RVU25D Status Code: only RVUs of status A, R and T are used for Medicare payment.
        return _unpriced(base, f"status {row.status}: {STATUS_MEANINGS[row.status]}", row)
    gpci = fs.gpci(locality)
    if gpci is None:
        return _unpriced(base, f"locality {locality} is not in the {fs.info.version} GPCI file", row)
    conv, conv_source = (cf or ConversionFactorChoice()).resolve(fs, dos)
    if conv is None:
        return _unpriced(base, conv_source, row)
    if setting is Setting.FACILITY:
        pe, na = row.fac_pe_rvu, row.fac_na
    else:
        pe, na = row.nonfac_pe_rvu, row.nonfac_na
    notes: list[str] = []
    if dos is not None and dos.year != fs.info.year:
        notes.append(f"RVUs and GPCIs from {fs.info.label}; only the conversion factor is CY{dos.year}'s")
    if na:
        notes.append(f"{setting.value} PE marked NA in {fs.info.version}: rarely or never done in this setting")
    base.update(work_rvu=row.work_rvu, pe_rvu=pe, mp_rvu=row.mp_rvu, work_gpci=gpci.work, pe_gpci=gpci.pe,
                mp_gpci=gpci.mp, conversion_factor=conv, conversion_factor_source=conv_source)
    total_rvu = row.work_rvu + pe + row.mp_rvu
    if total_rvu == 0:
        # Status R (and a few A rows) carry no RVUs: the contractor prices them.
        return _unpriced({**base, "notes": tuple(notes)}, f"status {row.status} with no RVUs in {fs.info.version}: contractor priced", row)
    # RVU25D, "formula for 2025 physician fee schedule payment amount".
    fee = cents((row.work_rvu * gpci.work + pe * gpci.pe + row.mp_rvu * gpci.mp) * conv)
    adjustments: list[Adjustment] = []
    amount = fee
    if "50" in mods:
        ind = row.bilateral
        if ind == "1":
            adjustments.append(Adjustment("bilateral-150", BILATERAL_150, "RVU25D bilateral indicator 1; MCPM 12 §40.7 B"))
        elif ind == "3":
            adjustments.append(Adjustment("bilateral-each-side", Decimal("2.00"), "RVU25D bilateral indicator 3: 100% for each side"))
        elif ind in ("0", "2"):
            adjustments.append(Adjustment(f"bilateral-indicator-{ind}", Decimal("1.00"), f"RVU25D bilateral indicator {ind}: 100% of a single code"))
        else:
            return _unpriced({**base, "notes": tuple(notes)}, f"modifier 50 with bilateral indicator {ind}: the bilateral concept does not apply", row)
    assistant = next((m for m in mods if m in ASSISTANT_MODIFIERS), None)
    if assistant:
        ind = row.assistant
        if ind == "1":
            return _unpriced({**base, "notes": tuple(notes)}, f"modifier {assistant}: assistant at surgery may not be paid (RVU25D assistant indicator 1)", row)
        if ind == "9":
            return _unpriced({**base, "notes": tuple(notes)}, f"modifier {assistant}: the assistant-at-surgery concept does not apply (indicator 9)", row)
        if ind == "0":
            notes.append("assistant indicator 0: paid only with documentation of medical necessity")
        adjustments.append(Adjustment("assistant-at-surgery", ASSISTANT_SHARE, "MCPM 12 §20.4.3: 16% of the fee schedule amount"))
        if assistant == "AS":
            adjustments.append(Adjustment("npp-assistant", NPP_ASSISTANT_SHARE, "MCPM 12 §110.2: nonphysician assistant at 85% of the physician rate"))
    if "62" in mods:
        ind = row.co_surgeon
        if ind not in ("1", "2"):
            return _unpriced({**base, "notes": tuple(notes)}, f"modifier 62: co-surgeons not permitted (RVU25D co-surgeon indicator {ind})", row)
        if ind == "1":
            notes.append("co-surgeon indicator 1: supporting documentation required")
        adjustments.append(Adjustment("co-surgeon", CO_SURGEON_SHARE, "MCPM 12 §40.8 B: 62.5% to each co-surgeon"))
    for a in adjustments:
        amount = cents(amount * a.factor)
    return Price(amount=cents(amount * units), fee_schedule_amount=fee, adjustments=tuple(adjustments),
                 notes=tuple(notes), **base)


@dataclass(frozen=True)
class LineInput:
    line_number: int
    code: str
    modifiers: tuple[str, ...] = ()
    units: int = 1
    charge: Decimal | None = None


def price_lines(fs: FeeSchedule, lines: Iterable[LineInput], *, locality: str, setting: Setting | str,
                dos: date | None = None, cf: ConversionFactorChoice | None = None) -> dict[int, Price]:
    """Price a claim's lines for one date of service, with the multiple-procedure reduction.

    RVU25D multiple procedure indicator 2 (and 1, 3): when procedures with indicator 1, 2 or 3
    are reported the same day, rank them by fee schedule amount (after the bilateral
    adjustment) and pay 100% of the highest and 50% of each other (indicator 1: 100/50/25...).
    A code billed with several units counts as that many procedures (MCPM 12 §40.6.2).
    Indicator 3 families (endoscopies sharing an endoscopic base code) are ranked as other
    procedures here; the within-family base-code subtraction is not applied (noted on the line).
    Finally the allowed amount is the lower of the actual charge and the fee schedule amount
    (RVU25D: "base the payment on the lower of (a) the actual charge, or (b) the fee
    schedule amount reduced by the appropriate percentage")."""
    lines = list(lines)
    prices = {l.line_number: price_line(fs, l.code, l.modifiers, locality=locality, setting=setting, units=l.units, dos=dos, cf=cf)
              for l in lines}
    ranked: list[tuple[Decimal, int, int]] = []  # (unit amount, line number, unit index)
    for l in lines:
        p = prices[l.line_number]
        if p.priced and p.mult_proc in MPPR_RANKS:
            per_unit = cents(p.amount / p.units)
            ranked.extend((per_unit, l.line_number, u) for u in range(p.units))
    out: dict[int, Price] = {}
    if len(ranked) > 1:
        ranked.sort(key=lambda t: (-t[0], t[1], t[2]))
        totals: dict[int, Decimal] = {}
        shares: dict[int, list[Decimal]] = {}
        for rank, (unit_amount, n, _) in enumerate(ranked):
            table = MPPR_RANKS[prices[n].mult_proc]
            share = table[min(rank, len(table) - 1)]
            totals[n] = totals.get(n, ZERO) + cents(unit_amount * share)
            shares.setdefault(n, []).append(share)
        for n, total in totals.items():
            p = prices[n]
            rule = Adjustment("multiple-procedure", min(shares[n]),
                              f"RVU25D multiple procedure indicator {p.mult_proc}: ranked by amount, 100% highest, "
                              f"then {' / '.join(f'{s:.0%}' for s in MPPR_RANKS[p.mult_proc][1:])}")
            notes = p.notes + ((f"shares by unit: {', '.join(f'{s:.0%}' for s in shares[n])}",))
            if p.mult_proc == "3":
                notes += ("endoscopy family base-code rule not applied",)
            prices[n] = _replace(p, amount=total, adjustments=p.adjustments + (rule,), notes=notes)
    for l in lines:
        p = prices[l.line_number]
        if p.priced and l.charge is not None and l.charge < p.amount:
            p = _replace(p, amount=cents(l.charge), notes=p.notes + ("lower of the actual charge and the fee schedule amount",))
        out[l.line_number] = p
    return out


def _replace(p: Price, **changes) -> Price:
    from dataclasses import replace

    return replace(p, **changes)
