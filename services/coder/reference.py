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

from services.coder import codesets, icd10
from services.coder.icd10 import ICD10CMCodeSet, fiscal_year
from services.coder.search import DescriptionIndex

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
FUTURE_FY_POLICIES = ("provisional", "review")


@dataclass(frozen=True)
class SnomedDxRow:
    snomed_code: str
    description: str
    icd10cm: str
    status: str  # map | ignore | review
    confidence: float
    note: str


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
class ProcedureRow:
    code: str
    code_type: str  # cpt | hcpcs
    category: str
    description: str
    dx_prefixes: tuple[str, ...]
    laterality: bool


@dataclass(frozen=True)
class CodeSetChoice:
    code_set: ICD10CMCodeSet | None
    fiscal_year: int
    version: str
    problem: str | None  # set when no code set may judge this date of service


def _file_version(path: Path) -> str:
    return f"{path.stem}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


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

    @classmethod
    def load(
        cls,
        data_dir: Path | None = None,
        cache_dir: Path | None = None,
        previous_fiscal_years: int = 1,
        fee_schedule: Path | None = None,
        hcpcs_file: Path | None = None,
        future_fy_policy: str = "provisional",
        fetch_missing: bool = False,
        code_sets: dict[int, ICD10CMCodeSet] | None = None,
    ) -> "CodingReference":
        """Load everything once.

        ``previous_fiscal_years``: how many fiscal years before the installed one to load
        from the code-set cache (``fetch_missing`` downloads absent pinned wheels first).
        An absent year is recorded in ``missing_fiscal_years`` and logged; a DOS in it is
        sent to review, never judged by another year's code set.
        ``future_fy_policy``: what to do with a DOS after the newest loaded fiscal year
        (its code set is not published in the package yet): ``provisional`` judges it by
        the newest set and says so in every ``code_set_version``; ``review`` routes it.
        ``code_sets`` (tests) replaces the ICD-10-CM loading."""
        if future_fy_policy not in FUTURE_FY_POLICIES:
            raise ValueError(f"future_fy_policy must be one of {FUTURE_FY_POLICIES}")
        data_dir = data_dir or DATA_DIR
        missing: dict[int, str] = {}
        if code_sets is None:
            current = icd10.load_installed()
            sets = {current.fiscal_year: current}
            cache = cache_dir or codesets.default_cache_dir()
            for fy in range(current.fiscal_year - previous_fiscal_years, current.fiscal_year):
                if fy not in codesets.PINNED_RELEASES:
                    missing[fy] = f"no pinned simple-icd-10-cm release carries FY{fy}"
                    continue
                path = codesets.verified_wheel(cache, fy)
                if path is None and fetch_missing:
                    try:
                        codesets.fetch(cache, [fy])
                        path = codesets.verified_wheel(cache, fy)
                    except Exception as exc:  # network or pip failure: say so, do not guess
                        log.warning("fetching ICD-10-CM FY%s failed: %s", fy, type(exc).__name__)
                if path is None:
                    missing[fy] = (f"ICD-10-CM FY{fy} is not in the code-set cache {cache}; "
                                   "run `python -m services.coder.codesets`")
                    continue
                s = icd10.load_wheel(path)
                if s.fiscal_year != fy:
                    raise ValueError(f"{path.name} carries FY{s.fiscal_year}, expected FY{fy}")
                sets[fy] = s
        else:
            sets = dict(code_sets)
        for fy, why in missing.items():
            log.warning("ICD-10-CM FY%s unavailable: encounters dated in it go to review (%s)", fy, why)

        snomed_dx = {}
        for r in _read_csv(data_dir / "snomed_icd10cm.csv"):
            snomed_dx[r["snomed_code"]] = SnomedDxRow(r["snomed_code"], r["description"], r["icd10cm"], r["status"],
                                                      float(r["confidence"] or 0), r["note"])
        snomed_px = {}
        for r in _read_csv(data_dir / "snomed_procedures.csv"):
            snomed_px[r["snomed_code"]] = SnomedPxRow(r["snomed_code"], r["description"], r["code"], r["code_type"],
                                                      r["status"], float(r["confidence"] or 0), r["note"])
        procedures = {}
        for r in _read_csv(data_dir / "procedure_codes.csv"):
            prefixes = tuple(p.replace(".", "") for p in r["dx_prefixes"].split(";") if p)
            procedures[r["code"]] = ProcedureRow(r["code"], r["code_type"], r["category"], r["description"],
                                                 prefixes, r["laterality"] == "1")
        versions = {
            "procedures": _file_version(data_dir / "procedure_codes.csv"),
            "snomed_icd10cm": _file_version(data_dir / "snomed_icd10cm.csv"),
            "snomed_procedures": _file_version(data_dir / "snomed_procedures.csv"),
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
        return cls(sets, missing, snomed_dx, snomed_px, procedures, fees, index, future_fy_policy, versions)

    @property
    def newest_fiscal_year(self) -> int:
        return max(self.code_sets)

    def code_set_for(self, dos: date) -> CodeSetChoice:
        fy = fiscal_year(dos)
        s = self.code_sets.get(fy)
        if s is not None:
            return CodeSetChoice(s, fy, s.version, None)
        newest = self.code_sets[self.newest_fiscal_year]
        if fy > newest.fiscal_year:
            if self.future_fy_policy == "provisional":
                return CodeSetChoice(newest, fy, f"{newest.version}; provisional for FY{fy} (FY{fy} set not loaded)", None)
            return CodeSetChoice(None, fy, "", f"ICD-10-CM FY{fy} is not loaded (newest loaded: FY{newest.fiscal_year})")
        why = self.missing_fiscal_years.get(fy, f"ICD-10-CM FY{fy} is not loaded (kept: FY{min(self.code_sets)}..FY{newest.fiscal_year})")
        return CodeSetChoice(None, fy, "", why)

    def fee(self, code: str, modifiers: list[str]) -> Decimal | None:
        for m in modifiers:
            if (code, m) in self.fees:
                return self.fees[(code, m)]
        return self.fees.get((code, ""))
