"""Reference data of the adjudicator (pure): the in-house starter CARC/RARC lists and the
per-payer appeal policy in ``data/``. Loaded once and cached; tests may build their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from claimflow.models import AppealLevel, Disposition

DATA_DIR = Path(__file__).resolve().parent / "data"

CARC_KINDS = frozenset({"denial", "contractual", "patient_share", "informational", "reversal"})
UNKNOWN_FAMILY = "unknown"


@dataclass(frozen=True)
class CarcInfo:
    code: str
    kind: str
    family: str
    default: Disposition
    text: str


@dataclass(frozen=True)
class CodeLists:
    version: str
    carc: dict[str, CarcInfo]
    rarc: dict[str, str]

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
    return PayerPolicy(payer_id, raw.get("name", payer_id), raw.get("plan_type", "other"), steps, priors)


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


def _yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


@lru_cache(maxsize=4)
def load_code_lists(data_dir: Path = DATA_DIR) -> CodeLists:
    return parse_code_lists(_yaml(data_dir / "carc.yaml"), _yaml(data_dir / "rarc.yaml"))


@lru_cache(maxsize=4)
def load_payer_book(data_dir: Path = DATA_DIR) -> PayerBook:
    return parse_payer_book(_yaml(data_dir / "payers.yaml"))
