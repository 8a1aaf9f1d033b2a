"""Reference data of the coder, loaded once at start (pure: no Faust, no Kafka).

- ICD-10-CM per fiscal year (``icd10``): the installed ``simple-icd-10-cm`` plus earlier
  fiscal years from pinned wheels in the code-set cache (``codesets``);
- the in-house SNOMED CT -> ICD-10-CM and SNOMED CT -> CPT/HCPCS maps (``data/*.csv``);
- the in-house CPT/HCPCS starter list (own short descriptions, never AMA text), optionally
  extended by an official HCPCS Level II file;
- the fee schedule (``data/fee_schedule.csv`` or a path given at load);
- a BM25 index over the newest fiscal year's billable ICD-10-CM descriptions."""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.coder import icd10
from services.coder.catalogue import (
    FUTURE_FY_POLICIES,
    SUPPORTED_FISCAL_YEARS,
    CodeSetCatalogue,
    CodeSetChoice,
    load_catalogue,
    shared_catalogue,
)
from services.coder.icd10 import ICD10CMCodeSet
from services.coder.search import DescriptionIndex

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"



@dataclass(frozen=True)
class SnomedDxRow:
    snomed_code: str
    description: str
    icd10cm: str  # first target (display); ``targets`` holds every alternative
    status: str  # map | ignore | review
    confidence: float
    note: str  # the rationale: ICD-10-CM index path, tabular note or guideline
    targets: tuple[str, ...] = ()

    def target_for(self, code_set) -> str | None:
        """The first target billable in ``code_set`` (targets are listed newest first, e.g.
        ``R05.9;R05``: R05 was split in FY2022), else None."""
        for t in self.targets:
            if code_set.is_billable(t):
                return t
        return None


@dataclass(frozen=True)
class SnomedPxRow:
    snomed_code: str
    description: str
    code: str
    code_type: str
    status: str
    confidence: float
    note: str


@dataclass(frozen=True)
class CvxRow:
    """One CVX vaccine: the product CPT when the CDC's CPT-CVX table names exactly one,
    else the candidates (with an optional age rule such as ``90656>=3``: from age 3 only
    that product applies), route (injection / oral / intranasal), number of vaccine
    components (for 90461) and, for COVID-19 products, their own administration codes."""

    cvx: str
    description: str
    product_cpt: str
    age_rule: tuple[str, int] | None
    candidates: tuple[str, ...]
    route: str
    components: int
    admin: tuple[str, ...]
    rationale: str
    # dose -> administration code ("1", "2", "3", "booster"), from ``admin`` entries "1=0001A"
    admin_by_dose: tuple[tuple[str, str], ...] = ()

    def admin_for(self, dose: int | str | None) -> str | None:
        return dict(self.admin_by_dose).get(str(dose)) if dose is not None else None


@dataclass(frozen=True)
class ProcedureRow:
    code: str
    code_type: str  # cpt | hcpcs
    category: str
    description: str
    dx_prefixes: tuple[str, ...]
    laterality: bool


def _file_version(path: Path) -> str:
    return f"{path.stem}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def _fetch_quietly(cache_dir: Path | None) -> None:
    """Download absent pinned code-set wheels; a failure is logged and the year reported missing."""
    from services.coder import codesets

    try:
        codesets.fetch(cache_dir)
    except Exception as exc:  # network or pip failure: the catalogue reports the year as missing
        log.warning("fetching pinned ICD-10-CM releases failed: %s", type(exc).__name__)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


@dataclass(repr=False)
class CodingReference:
    code_sets: dict[int, ICD10CMCodeSet]
    missing_fiscal_years: dict[int, str]
    snomed_dx: dict[str, SnomedDxRow]
    snomed_px: dict[str, SnomedPxRow]
    procedures: dict[str, ProcedureRow]
    fees: dict[tuple[str, str], Decimal]
    index: DescriptionIndex
    future_fy_policy: str = "provisional"
    versions: dict[str, str] = field(default_factory=dict)
    cvx: dict[str, CvxRow] = field(default_factory=dict)  # CVX code without leading zeros -> row

    @classmethod
    def load(
        cls,
        data_dir: Path | None = None,
        cache_dir: Path | None = None,
        previous_fiscal_years: int = len(SUPPORTED_FISCAL_YEARS) - 1,
        fee_schedule: Path | None = None,
        hcpcs_file: Path | None = None,
        future_fy_policy: str = "provisional",
        fetch_missing: bool = False,
        code_sets: dict[int, ICD10CMCodeSet] | None = None,
        refdata_dir: Path | None = None,
        catalogue: CodeSetCatalogue | None = None,
    ) -> "CodingReference":
        """Load everything once.

        ``previous_fiscal_years``: how many fiscal years before the installed one to load
        from the code-set cache (``fetch_missing`` downloads absent pinned wheels first).
        An absent year is recorded in ``missing_fiscal_years`` and logged; a DOS in it is
        sent to review, never judged by another year's code set.
        ``future_fy_policy``: what to do with a DOS after the newest loaded fiscal year
        (its code set is not published in the package yet): ``provisional`` judges it by
        the newest set and says so in every ``code_set_version``; ``review`` routes it.
        ``code_sets`` (tests) replaces the ICD-10-CM loading; ``catalogue`` shares one
        already loaded :class:`~services.coder.catalogue.CodeSetCatalogue` (with the scrubber);
        ``refdata_dir`` adds fiscal years imported with ``claimflow refdata import icd10cm``."""
        if future_fy_policy not in FUTURE_FY_POLICIES:
            raise ValueError(f"future_fy_policy must be one of {FUTURE_FY_POLICIES}")
        data_dir = data_dir or DATA_DIR
        if catalogue is None and code_sets is None:
            wanted = tuple(fy for fy in SUPPORTED_FISCAL_YEARS if fy >= max(SUPPORTED_FISCAL_YEARS) - previous_fiscal_years)
            if wanted == SUPPORTED_FISCAL_YEARS and future_fy_policy == "provisional":
                if fetch_missing:
                    _fetch_quietly(cache_dir)
                # the process-wide catalogue: a scrubber in the same process judges with the same object
                catalogue = shared_catalogue(refdata_dir=refdata_dir, cache_dir=cache_dir)
            else:
                catalogue = load_catalogue(cache_dir=cache_dir, refdata_dir=refdata_dir, fiscal_years=wanted,
                                           fetch_missing=fetch_missing, future_policy=future_fy_policy)
        if catalogue is not None:
            sets, missing = catalogue.sets, catalogue.missing
        else:
            sets, missing = dict(code_sets or {}), {}

        snomed_dx = {}
        for r in _read_csv(data_dir / "snomed_icd10cm.csv"):
            targets = tuple(t for t in r["icd10cm"].split(";") if t)
            snomed_dx[r["snomed_code"]] = SnomedDxRow(r["snomed_code"], r["description"], targets[0] if targets else "",
                                                      r["status"], float(r["confidence"] or 0),
                                                      r.get("rationale") or r.get("note", ""), targets)
        snomed_px = {}
        for r in _read_csv(data_dir / "snomed_procedures.csv"):
            snomed_px[r["snomed_code"]] = SnomedPxRow(r["snomed_code"], r["description"], r["code"], r["code_type"],
                                                      r["status"], float(r["confidence"] or 0),
                                                      r.get("rationale") or r.get("note", ""))
        cvx = {}
        for r in _read_csv(data_dir / "cvx_cpt.csv"):
            rule = None
            if r["age_rule"]:
                code, _, age = r["age_rule"].partition(">=")
                rule = (code, int(age))
            admin = [a.partition("=") for a in r["admin"].split(";") if a]
            cvx[r["cvx"].lstrip("0") or "0"] = CvxRow(
                r["cvx"], r["description"], r["product_cpt"], rule, tuple(c for c in r["candidates"].split(";") if c),
                r["route"], int(r["components"] or 1), tuple(c or d for d, _, c in admin), r["rationale"],
                tuple((d, c) for d, _, c in admin if c))
        procedures = {}
        for r in _read_csv(data_dir / "procedure_codes.csv"):
            prefixes = tuple(p.replace(".", "") for p in r["dx_prefixes"].split(";") if p)
            procedures[r["code"]] = ProcedureRow(r["code"], r["code_type"], r["category"], r["description"],
                                                 prefixes, r["laterality"] == "1")
        versions = {
            "procedures": _file_version(data_dir / "procedure_codes.csv"),
            "snomed_icd10cm": _file_version(data_dir / "snomed_icd10cm.csv"),
            "snomed_procedures": _file_version(data_dir / "snomed_procedures.csv"),
            "cvx_cpt": _file_version(data_dir / "cvx_cpt.csv"),
        }
        if hcpcs_file is not None:
            n = 0
            for r in _read_csv(hcpcs_file):
                code = r.get("hcpcs", "")
                if r.get("kind", "code") != "modifier" and len(code) == 5 and code not in procedures:
                    procedures[code] = ProcedureRow(code, "hcpcs", "hcpcs_official", "", (), False)
                    n += 1
            versions["hcpcs_file"] = _file_version(hcpcs_file)
        fee_path = fee_schedule or data_dir / "fee_schedule.csv"
        fees = {(r["code"], r.get("modifier", "")): Decimal(r["charge"]) for r in _read_csv(fee_path)}
        versions["fee_schedule"] = _file_version(fee_path)
        newest = sets[max(sets)]
        index = DescriptionIndex({icd10.add_dot(c): newest.descriptions[c] for c in newest.billable_codes()})
        out = cls(sets, missing, snomed_dx, snomed_px, procedures, fees, index,
                  catalogue.future_policy if catalogue is not None else future_fy_policy, versions, cvx)
        if catalogue is not None:
            out.__dict__["_catalogue"] = catalogue
        return out

    @property
    def newest_fiscal_year(self) -> int:
        return max(self.code_sets)

    @property
    def catalogue(self) -> CodeSetCatalogue:
        """The effective-dated catalogue over ``code_sets`` (the scrubber takes the same)."""
        cat = self.__dict__.get("_catalogue")
        if cat is None or cat.sets is not self.code_sets:
            cat = CodeSetCatalogue(self.code_sets, self.missing_fiscal_years, self.future_fy_policy)
            self.__dict__["_catalogue"] = cat
        return cat

    def code_set_for(self, dos: date) -> CodeSetChoice:
        return self.catalogue.for_dos(dos)

    def fee(self, code: str, modifiers: list[str]) -> Decimal | None:
        for m in modifiers:
            if (code, m) in self.fees:
                return self.fees[(code, m)]
        return self.fees.get((code, ""))
