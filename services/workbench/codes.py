"""Code look-ups for the review screen, over the coder's own reference data: ICD-10-CM of
the fiscal year of the date of service (billable codes only), the CPT/HCPCS list and the
modifier list. Loaded once per process, on first use."""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.coder.icd10 import add_dot, strip_dot
from services.coder.reference import CodingReference

_lock = threading.Lock()
_ref: CodingReference | None = None
MODIFIERS_CSV = Path(__file__).resolve().parent.parent / "scrubber" / "data" / "starter_modifiers.csv"


def reference() -> CodingReference:
    global _ref
    with _lock:
        if _ref is None:
            _ref = CodingReference.load()
        return _ref


@dataclass(frozen=True)
class CodeHit:
    code: str
    description: str


def fy_date(fy: int) -> date:
    """A date inside ICD-10-CM fiscal year ``fy`` (1 Oct of fy-1 .. 30 Sep of fy)."""
    return date(fy, 3, 1)


def search_icd10(q: str, dos: date, limit: int = 15) -> list[CodeHit]:
    ref = reference()
    cs = ref.code_set_for(dos).code_set
    q = q.strip()
    if cs is None or len(q) < 2:
        return []
    key = strip_dot(q.upper())
    if key[:1].isalpha() and key[1:3].isdigit():  # looks like a code: billable codes under that prefix
        hits = [c for c in cs.descriptions if c.startswith(key) and cs.is_billable(c)]
        return [CodeHit(add_dot(c), cs.descriptions[c]) for c in sorted(hits)[:limit]]
    return [CodeHit(h.code, cs.description(h.code) or "") for h in ref.index.search(q, limit=limit, allowed=cs.is_billable)]


def search_procedures(q: str, limit: int = 15) -> list[CodeHit]:
    ref = reference()
    q = q.strip().lower()
    if not q:
        return []
    rows = sorted(ref.procedures.values(), key=lambda r: r.code)
    hits = [r for r in rows if r.code.lower().startswith(q)] or [r for r in rows if q in r.description.lower()]
    return [CodeHit(r.code, r.description or r.category) for r in hits[:limit]]


def _modifiers() -> list[CodeHit]:
    with MODIFIERS_CSV.open(newline="", encoding="utf-8") as f:
        return [CodeHit(r["modifier"], r.get("description", "")) for r in csv.DictReader(f)]


def search_modifiers(q: str, limit: int = 15) -> list[CodeHit]:
    q = q.strip().upper()
    mods = _modifiers()
    return [m for m in mods if not q or m.code.startswith(q) or q.lower() in m.description.lower()][:limit]


def describe_icd10(code: str, dos: date) -> str:
    cs = reference().code_set_for(dos).code_set
    return (cs.description(code) or "") if cs else ""
