"""Measure ``claimflow code`` results against the independently labelled set
(``tests/fixtures/coding_labelled``): per code type precision and recall, routing agreement
and the confusion list. Pure over result lines (see :mod:`services.coder.offline`).

Code types and tokens: ``icd`` (ICD-10-CM code), ``cpt`` (CPT/HCPCS code, ``xN`` for more
than one unit), ``mod`` (``CODE-MOD`` per modifier on a line), ``em`` (the E/M code: office
or preventive). *Inferred* tokens are those the rules produced (provenance mapped or
inferred); codes documented in the input pass through and are counted apart. The headline
precision is over inferred tokens of the encounters the coder coded without a person."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = ("icd", "cpt", "mod", "em")
EM_CODES = {f"992{n:02d}" for n in range(2, 16)} | {f"993{n}" for n in range(81, 88)} | {f"993{n}" for n in range(91, 98)}
PASSTHROUGH = {"documented", "reviewed"}


def _line_token(ln: dict[str, Any]) -> str:
    return ln["code"] + (f"x{ln['units']}" if ln["units"] > 1 else "")


def result_tokens(r: dict[str, Any], *, inferred_only: bool) -> dict[str, Counter]:
    out = {t: Counter() for t in TYPES}
    for d in r["codes"]["diagnoses"]:
        if not inferred_only or d["provenance"] not in PASSTHROUGH:
            out["icd"][d["code"]] += 1
    for ln in r["codes"]["service_lines"]:
        if inferred_only and ln["provenance"] in PASSTHROUGH:
            continue
        out["cpt"][_line_token(ln)] += 1
        for m in ln["modifiers"]:
            out["mod"][f"{ln['code']}-{m}"] += 1
        if ln["code"] in EM_CODES:
            out["em"][ln["code"]] += 1
    return out


def label_tokens(label: dict[str, Any], documented: set[str]) -> dict[str, Counter]:
    """Expected tokens, passthrough ones (documented in the input) removed."""
    out = {t: Counter() for t in TYPES}
    for c in label.get("icd10cm", []):
        if c.replace(".", "") not in documented:
            out["icd"][c] += 1
    for c in label.get("cpt", []):
        if c.split("x")[0] not in documented:
            out["cpt"][c] += 1
    for m in label.get("modifiers", []):
        if m.split("-")[0] not in documented:
            out["mod"][m] += 1
    em = label.get("em")
    if em and em not in documented:
        out["em"][em] += 1
    return out


@dataclass
class LabelledEvaluation:
    total: int = 0
    auto_coded: int = 0
    routing_agree: int = 0
    tp: Counter = field(default_factory=Counter)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    passthrough: int = 0
    confusion: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    routing: list[tuple[str, str, str]] = field(default_factory=list)
    review_only_for_code_set: int = 0
    proposals_tp: Counter = field(default_factory=Counter)
    proposals_fp: Counter = field(default_factory=Counter)

    def precision(self, t: str | None = None) -> float:
        tp = self.tp[t] if t else sum(self.tp.values())
        fp = self.fp[t] if t else sum(self.fp.values())
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, t: str | None = None) -> float:
        tp = self.tp[t] if t else sum(self.tp.values())
        fn = self.fn[t] if t else sum(self.fn.values())
        return tp / (tp + fn) if tp + fn else 1.0


def evaluate(pairs: list[tuple[str, dict[str, Any], dict[str, Any], set[str]]]) -> LabelledEvaluation:
    """``pairs``: (name, result line, label, documented codes of the input)."""
    ev = LabelledEvaluation()
    for name, r, label, documented in pairs:
        ev.total += 1
        coded = r["outcome"] in ("auto-coded", "self-pay")
        got = "coded" if coded else "review"
        if got == label["outcome"]:
            ev.routing_agree += 1
        else:
            reasons = sorted({x["code"] for x in r["review_reasons"]})
            ev.routing.append((name, f"expected {label['outcome']}, got {r['outcome']}", ",".join(reasons)))
            if reasons in (["DX_CODE_SET_UNAVAILABLE"], ["DOS_BEFORE_ICD10"]):
                ev.review_only_for_code_set += 1
        exp = label_tokens(label, documented)
        pred = result_tokens(r, inferred_only=True)
        ev.passthrough += sum(sum(c.values()) for c in result_tokens(r, inferred_only=False).values()) - sum(
            sum(c.values()) for c in pred.values())
        if not coded:
            for t in TYPES:  # proposals of review items, for information only
                both = pred[t] & exp[t]
                ev.proposals_tp[t] += sum(both.values())
                ev.proposals_fp[t] += sum((pred[t] - both).values())
            continue
        ev.auto_coded += 1
        extra, missing = [], []
        for t in TYPES:
            if label["outcome"] == "review":
                exp_t: Counter = Counter()  # coded although the label says a person must decide: all false positives
            else:
                exp_t = exp[t]
            both = pred[t] & exp_t
            ev.tp[t] += sum(both.values())
            ev.fp[t] += sum((pred[t] - both).values())
            ev.fn[t] += sum((exp_t - both).values())
            extra += [f"{t}:{x}" for x in (pred[t] - both).elements()]
            missing += [f"{t}:{x}" for x in (exp_t - both).elements()]
        if extra or missing:
            ev.confusion.append((name, sorted(extra), sorted(missing)))
    return ev


def report(ev: LabelledEvaluation) -> str:
    lines = [
        f"labelled encounters: {ev.total}; auto-coded: {ev.auto_coded}; routing agreement: {ev.routing_agree}/{ev.total}",
        f"inferred tokens on auto-coded encounters: precision {ev.precision():.4f} recall {ev.recall():.4f} "
        f"(tp {sum(ev.tp.values())}, fp {sum(ev.fp.values())}, fn {sum(ev.fn.values())}); passthrough tokens {ev.passthrough}",
    ]
    for t, label in (("icd", "ICD-10-CM"), ("cpt", "CPT/HCPCS"), ("mod", "modifiers"), ("em", "E/M level")):
        lines.append(f"  {label:10s} precision {ev.precision(t):.4f} recall {ev.recall(t):.4f} "
                     f"(tp {ev.tp[t]}, fp {ev.fp[t]}, fn {ev.fn[t]}); review proposals: {ev.proposals_tp[t]} right, {ev.proposals_fp[t]} wrong")
    lines.append(f"routing disagreements: {len(ev.routing)} ({ev.review_only_for_code_set} only because the DOS fiscal year's code set is not loaded or the DOS is before ICD-10-CM)")
    for name, what, detail in ev.routing:
        lines.append(f"  {name}: {what} [{detail}]")
    lines.append(f"confusion (auto-coded, inferred tokens): {len(ev.confusion)}")
    for name, extra, missing in ev.confusion:
        lines.append(f"  {name}: predicted-not-expected={extra} expected-not-predicted={missing}")
    return "\n".join(lines)


# --- reading the labelled folder ----------------------------------------------------------


def load_visits(folder: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    spec = importlib.util.spec_from_file_location("coding_labelled_visits", folder / "visits.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return list(mod.VISITS)


def load_synthea_labels(folder: Path) -> list[dict[str, Any]]:
    path = folder / "synthea_labels.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def documented_codes(enc: dict[str, Any]) -> set[str]:
    snomed_cvx = ("http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx")
    out = {(d.get("code") or "").replace(".", "").upper() for d in enc.get("diagnoses", []) if d.get("code") and d.get("system") not in snomed_cvx}
    out |= {(p.get("code") or "").upper() for p in enc.get("procedures", []) if p.get("code") and p.get("system") not in snomed_cvx}
    return out
