"""Reference data of the adjudicator (pure): the in-house starter CARC/RARC lists, the reason
families of the full X12 CARC list, and the per-payer appeal policy in ``data/``. When the
full CARC/RARC lists were imported (``claimflow refdata import carc|rarc --out DIR``), DIR's
``carc.csv`` / ``rarc.csv`` are read and classified by ``carc_families.yaml``; the starter
list stays the fallback. Loaded once and cached; tests may build their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import csv

import yaml

from claimflow.models import AppealLevel, Disposition

DATA_DIR = Path(__file__).resolve().parent / "data"

CARC_KINDS = frozenset({"denial", "contractual", "patient_share", "informational", "reversal", "unclassified"})
UNKNOWN_FAMILY = "unknown"
UNCLASSIFIED_FAMILY = "unclassified"  # in the imported X12 list, but in no family of carc_families.yaml


@dataclass(frozen=True)
class CarcInfo:
    code: str
    kind: str
    family: str
    default: Disposition
    text: str
    status: str = "current"  # current | deactivated (X12 list status)


@dataclass(frozen=True)
class CodeLists:
    version: str
    carc: dict[str, CarcInfo]
    rarc: dict[str, str]
    source: str = "starter"  # starter | imported

    def carc_info(self, code: str) -> CarcInfo | None:
        return self.carc.get(code.strip().upper())

    def family(self, code: str) -> str:
        info = self.carc_info(code)
        return info.family if info else UNKNOWN_FAMILY

    @property
    def families(self) -> frozenset[str]:
        """The bounded set of reason-family labels (plus ``unknown``)."""
        return frozenset({c.family for c in self.carc.values()} | {UNKNOWN_FAMILY})


@dataclass(frozen=True)
class AppealStep:
    level: AppealLevel
    days: int


@dataclass(frozen=True)
class PayerPolicy:
    payer_id: str
    name: str
    plan_type: str
    appeal_levels: tuple[AppealStep, ...]
    carc_priors: dict[str, tuple[float, float]] = field(default_factory=dict)
    appeal_address: str | None = None  # where appeals go (synthetic addresses in the starter book)

    def step(self, index: int) -> AppealStep | None:
        return self.appeal_levels[index] if 0 <= index < len(self.appeal_levels) else None


@dataclass(frozen=True)
class PayerBook:
    version: str
    payers: dict[str, PayerPolicy]
    default_payer: PayerPolicy
    default_prior: tuple[float, float]
    carc_priors: dict[str, tuple[float, float]]

    def policy(self, payer_id: str) -> PayerPolicy:
        return self.payers.get(payer_id) or PayerPolicy(
            payer_id, self.default_payer.name, self.default_payer.plan_type, self.default_payer.appeal_levels
        )

    def prior(self, payer_id: str, carc: str) -> tuple[float, float]:
        payer = self.payers.get(payer_id)
        if payer and carc in payer.carc_priors:
            return payer.carc_priors[carc]
        return self.carc_priors.get(carc, self.default_prior)


def _prior(raw: dict[str, Any]) -> tuple[float, float]:
    a, b = float(raw["alpha"]), float(raw["beta"])
    if a <= 0 or b <= 0:
        raise ValueError("Beta prior pseudo-counts must be positive")
    return a, b


def _payer(payer_id: str, raw: dict[str, Any]) -> PayerPolicy:
    steps = tuple(AppealStep(AppealLevel(s["level"]), int(s["days"])) for s in raw.get("appeal_levels", []))
    priors = {str(k): _prior(v) for k, v in (raw.get("carc_priors") or {}).items()}
    return PayerPolicy(payer_id, raw.get("name", payer_id), raw.get("plan_type", "other"), steps, priors, raw.get("appeal_address"))


def parse_code_lists(carc_raw: dict[str, Any], rarc_raw: dict[str, Any]) -> CodeLists:
    carc = {}
    for code, row in (carc_raw.get("codes") or {}).items():
        if row["kind"] not in CARC_KINDS:
            raise ValueError(f"CARC {code}: unknown kind {row['kind']!r}")
        carc[str(code)] = CarcInfo(str(code), row["kind"], row["family"], Disposition(row["default"]), row["text"])
    rarc = {str(k): str(v) for k, v in (rarc_raw.get("codes") or {}).items()}
    return CodeLists(str(carc_raw.get("version", "unversioned")), carc, rarc)


def parse_payer_book(raw: dict[str, Any]) -> PayerBook:
    payers = {str(pid): _payer(str(pid), row) for pid, row in (raw.get("payers") or {}).items()}
    default = _payer("*", raw.get("default_payer") or {"appeal_levels": [{"level": "payer_internal", "days": 90}]})
    priors = {str(k): _prior(v) for k, v in (raw.get("carc_priors") or {}).items()}
    return PayerBook(str(raw.get("version", "unversioned")), payers, default,
                     _prior(raw.get("default_prior") or {"alpha": 1, "beta": 1}), priors)


@dataclass(frozen=True)
class FamilyTable:
    version: str
    families: dict[str, tuple[str, Disposition]]  # family -> (kind, default disposition)
    code_family: dict[str, str]

    def info(self, code: str, text: str, status: str = "current") -> CarcInfo:
        family = self.code_family.get(code)
        if family is None:
            return CarcInfo(code, "unclassified", UNCLASSIFIED_FAMILY, Disposition.MANUAL_REVIEW, text, status)
        kind, default = self.families[family]
        return CarcInfo(code, kind, family, default, text, status)


def parse_families(raw: dict[str, Any]) -> FamilyTable:
    families = {}
    for name, row in (raw.get("families") or {}).items():
        if row["kind"] not in CARC_KINDS:
            raise ValueError(f"family {name}: unknown kind {row['kind']!r}")
        families[str(name)] = (row["kind"], Disposition(row["default"]))
    code_family: dict[str, str] = {}
    for name, codes in (raw.get("codes") or {}).items():
        if name not in families:
            raise ValueError(f"codes listed under undeclared family {name!r}")
        for code in codes:
            if str(code) in code_family:
                raise ValueError(f"CARC {code} is in two families ({code_family[str(code)]}, {name})")
            code_family[str(code)] = str(name)
    return FamilyTable(str(raw.get("version", "unversioned")), families, code_family)


def _read_code_csv(path: Path) -> dict[str, tuple[str, str]]:
    """code -> (status, description) from the normalized code,status,description CSV."""
    out: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"code", "status", "description"} <= {h.strip().lower() for h in reader.fieldnames}:
            raise ValueError(f"{path.name}: expected columns code,status,description")
        for row in reader:
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if row["code"]:
                out[row["code"].upper()] = (row["status"].lower() or "current", row["description"])
    return out


def merge_imported(starter: CodeLists, families: FamilyTable, carc_rows: dict[str, tuple[str, str]] | None,
                   rarc_rows: dict[str, tuple[str, str]] | None, version: str = "imported") -> CodeLists:
    """The full lists: every imported CARC classified by its family (the starter entry wins
    for the codes it has, keeping the list's status); every imported RARC with its text."""
    carc = dict(starter.carc)
    for code, (status, text) in (carc_rows or {}).items():
        if code in carc:
            carc[code] = CarcInfo(code, carc[code].kind, carc[code].family, carc[code].default, carc[code].text, status)
        else:
            carc[code] = families.info(code, text, status)
    rarc = dict(starter.rarc)
    for code, (status, text) in (rarc_rows or {}).items():
        rarc.setdefault(code, text + (" (deactivated)" if status == "deactivated" else ""))
    return CodeLists(f"{starter.version}+{version}", carc, rarc, "imported")


def _yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


@lru_cache(maxsize=4)
def load_families(data_dir: Path = DATA_DIR) -> FamilyTable:
    return parse_families(_yaml(data_dir / "carc_families.yaml"))


@lru_cache(maxsize=8)
def load_code_lists(data_dir: Path = DATA_DIR, imported_dir: Path | None = None) -> CodeLists:
    """The starter lists, or, when ``imported_dir`` holds an imported ``carc.csv`` (and
    optionally ``rarc.csv``), the full lists classified by family on top of them."""
    starter = parse_code_lists(_yaml(data_dir / "carc.yaml"), _yaml(data_dir / "rarc.yaml"))
    if imported_dir is None:
        return starter
    carc_path, rarc_path = Path(imported_dir) / "carc.csv", Path(imported_dir) / "rarc.csv"
    if not carc_path.exists() and not rarc_path.exists():
        return starter
    return merge_imported(starter, load_families(data_dir), _read_code_csv(carc_path) if carc_path.exists() else None,
                          _read_code_csv(rarc_path) if rarc_path.exists() else None, imported_dir.name)


@lru_cache(maxsize=4)
def load_payer_book(data_dir: Path = DATA_DIR) -> PayerBook:
    return parse_payer_book(_yaml(data_dir / "payers.yaml"))
