"""Measure ``claimflow code`` result lines against the independently labelled set in
``tests/labels/`` (see its README: labels written from the guidelines before the coder ran).

Pure over result lines (:mod:`services.coder.offline`) and label dicts. Reports:

* outcome accuracy over the five label outcomes (auto-coded, self-pay, review,
  institutional, pre-ICD-10);
* precision and recall per code type - ``icd`` (ICD-10-CM), ``cpt`` (CPT/HCPCS, ``CODExN``
  for N > 1 units), ``mod`` (``CODE-MOD``), ``em`` (the E/M code) - separately for
  *passthrough* tokens (documented in the input as ICD-10-CM/CPT/HCPCS, or that modifier on
  that documented code) and *inferred* ones (everything else: mapped from SNOMED/CVX, or
  inferred by the rules), on the encounters the coder coded without a person. A label that
  says a person must decide (review, institutional, pre-ICD-10) expects no tokens, so
  whatever the coder auto-coded there counts as false positives;
* end-to-end recall: the expected tokens of every encounter labelled coded, whether the
  coder coded it or not;
* the confusion list: per encounter, expected vs got, with the label's rationale.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = ("icd", "cpt", "mod", "em")
TYPE_NAMES = {"icd": "ICD-10-CM", "cpt": "CPT/HCPCS", "mod": "modifiers", "em": "E/M level"}
KINDS = ("inferred", "passthrough")
EM_CODES = ({f"992{n:02d}" for n in range(2, 16)} | {f"9938{n}" for n in range(1, 8)} | {f"9939{n}" for n in range(1, 8)}
            | {f"9928{n}" for n in range(1, 6)})
CODED = ("auto-coded", "self-pay")
PASSTHROUGH_PROVENANCE = {"documented", "reviewed"}
NOT_CODE_SYSTEMS = ("http://snomed.info/sct", "http://hl7.org/fhir/sid/cvx")
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "tests" / "labels"


# --- tokens ---------------------------------------------------------------------------------


def _line_token(code: str, units: int) -> str:
    return code + (f"x{units}" if units > 1 else "")


def result_tokens(r: dict[str, Any]) -> dict[str, Counter]:
    """Every token of a result line (passthrough or not is decided against the input)."""
    out = {t: Counter() for t in TYPES}
    for d in r["codes"]["diagnoses"]:
        out["icd"][d["code"]] += 1
    for ln in r["codes"]["service_lines"]:
        out["cpt"][_line_token(ln["code"], ln["units"])] += 1
        for m in ln["modifiers"]:
            out["mod"][f"{ln['code']}-{m}"] += 1
        if ln["code"] in EM_CODES:
            out["em"][ln["code"]] += 1
    return out


def label_tokens(label: dict[str, Any]) -> dict[str, Counter]:
    out = {t: Counter() for t in TYPES}
    if label["outcome"] not in CODED:
        return out
    for c in label.get("icd10cm", []):
        out["icd"][c] += 1
    for c in label.get("cpt", []):
        out["cpt"][c] += 1
    for m in label.get("modifiers", []):
        out["mod"][m] += 1
    if label.get("em"):
        out["em"][label["em"]] += 1
    return out


def documented(enc: dict[str, Any] | None) -> set[str]:
    """Passthrough keys of an EncounterEvent dict: ``icd:E119``, ``px:20610``, ``mod:20610-RT``."""
    if not enc:
        return set()
    out = {"icd:" + (d.get("code") or "").replace(".", "").upper() for d in enc.get("diagnoses", [])
           if d.get("code") and d.get("system") not in NOT_CODE_SYSTEMS}
    for p in enc.get("procedures", []):
        if p.get("code") and p.get("system") not in NOT_CODE_SYSTEMS:
            code = p["code"].upper()
            out.add("px:" + code)
            out |= {f"mod:{code}-{m.upper()}" for m in p.get("modifiers", [])}
    return out


def is_passthrough(t: str, token: str, doc: set[str]) -> bool:
    if t == "icd":
        return "icd:" + token.replace(".", "").upper() in doc
    if t == "mod":
        return "mod:" + token.upper() in doc
    return "px:" + token.split("x")[0].upper() in doc


def split(t: str, c: Counter, doc: set[str]) -> dict[str, Counter]:
    out = {k: Counter() for k in KINDS}
    for tok, n in c.items():
        out["passthrough" if is_passthrough(t, tok, doc) else "inferred"][tok] += n
    return out


# --- outcomes -------------------------------------------------------------------------------


def got_outcome(r: dict[str, Any]) -> str:
    """The result line's outcome in the label's vocabulary: a review with a reason naming an
    ICD-9-CM date of service, or the offline outcome ``pre-icd10``, is the label outcome
    ``pre-ICD-10``."""
    if r["outcome"] == "pre-icd10":
        return "pre-ICD-10"
    if r["outcome"] == "review":
        msgs = [(x.get("code") or "") + " " + (x.get("message") or "") for x in r["review_reasons"]]
        if any("ICD-9" in m for m in msgs):
            return "pre-ICD-10"
    return r["outcome"]


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class LabelSetEvaluation:
    total: int = 0
    coded_by_coder: int = 0
    outcome_agree: int = 0
    outcomes: Counter = field(default_factory=Counter)  # (expected, got)
    tp: Counter = field(default_factory=Counter)  # (kind, type)
    fp: Counter = field(default_factory=Counter)
    fn: Counter = field(default_factory=Counter)
    e2e_expected: Counter = field(default_factory=Counter)  # type -> expected tokens of coded labels
    e2e_found: Counter = field(default_factory=Counter)
    confusion: list[dict[str, Any]] = field(default_factory=list)
    routing: list[dict[str, Any]] = field(default_factory=list)

    def precision(self, kind: str, t: str | None = None) -> float:
        ts = [t] if t else TYPES
        tp = sum(self.tp[(kind, x)] for x in ts)
        fp = sum(self.fp[(kind, x)] for x in ts)
        return tp / (tp + fp) if tp + fp else float("nan")

    def recall(self, kind: str, t: str | None = None) -> float:
        ts = [t] if t else TYPES
        tp = sum(self.tp[(kind, x)] for x in ts)
        fn = sum(self.fn[(kind, x)] for x in ts)
        return tp / (tp + fn) if tp + fn else float("nan")

    def e2e_recall(self, t: str | None = None) -> float:
        ts = [t] if t else TYPES
        e = sum(self.e2e_expected[x] for x in ts)
        return sum(self.e2e_found[x] for x in ts) / e if e else float("nan")


def _whys(label: dict[str, Any]) -> dict[str, str]:
    out = {d["code"]: d["why"] for d in label.get("diagnoses", [])}
    for ln in label.get("lines", []):
        out[ln["code"]] = ln["why"]
    return out


def evaluate(pairs: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None]]) -> LabelSetEvaluation:
    """``pairs``: (name, result line, label, input EncounterEvent dict or None for a bundle)."""
    ev = LabelSetEvaluation()
    for name, r, label, enc in pairs:
        ev.total += 1
        exp_out, got = label["outcome"], got_outcome(r)
        ev.outcomes[(exp_out, got)] += 1
        if exp_out == got:
            ev.outcome_agree += 1
        else:
            ev.routing.append({"name": name, "expected": exp_out, "got": got,
                               "reasons": sorted({x["code"] for x in r["review_reasons"]}),
                               "label_reason": label.get("review_reason"), "rationale": label.get("rationale", "")})
        doc = documented(enc)
        exp = label_tokens(label)
        pred = result_tokens(r)
        if exp_out in CODED:
            for t in TYPES:
                ev.e2e_expected[t] += sum(exp[t].values())
                if got in CODED:
                    ev.e2e_found[t] += sum((exp[t] & pred[t]).values())
        if got not in CODED:
            continue
        ev.coded_by_coder += 1
        extra: list[str] = []
        missing: list[str] = []
        for t in TYPES:
            e, p = split(t, exp[t], doc), split(t, pred[t], doc)
            for k in KINDS:
                both = e[k] & p[k]
                ev.tp[(k, t)] += sum(both.values())
                ev.fp[(k, t)] += sum((p[k] - both).values())
                ev.fn[(k, t)] += sum((e[k] - both).values())
                extra += [f"{t}:{x}" for x in (p[k] - both).elements()]
                missing += [f"{t}:{x}" for x in (e[k] - both).elements()]
        if extra or missing:
            whys = _whys(label)
            ev.confusion.append({"name": name, "expected_outcome": exp_out, "got_not_expected": sorted(extra),
                                 "expected_not_got": sorted(missing),
                                 "why": {m: whys.get(m.split(":", 1)[1].split("x")[0].split("-")[0], label.get("rationale", ""))
                                         for m in sorted(missing)} or {"(outcome)": label.get("rationale", "")}})
    return ev


def _f(x: float) -> str:
    return "  n/a " if x != x else f"{x:.4f}"


def report(ev: LabelSetEvaluation, *, confusion_limit: int | None = None) -> str:
    lines = [f"labelled encounters: {ev.total}; coded by the coder without a person: {ev.coded_by_coder}; "
             f"outcome agreement: {ev.outcome_agree}/{ev.total}"]
    lines.append("outcomes (expected -> got): " + ", ".join(f"{e}->{g}={n}" for (e, g), n in sorted(ev.outcomes.items())))
    for k in KINDS:
        tp = sum(ev.tp[(k, t)] for t in TYPES)
        fp = sum(ev.fp[(k, t)] for t in TYPES)
        fn = sum(ev.fn[(k, t)] for t in TYPES)
        lines.append(f"{k} tokens on coder-coded encounters: precision {_f(ev.precision(k))} recall {_f(ev.recall(k))} "
                     f"(tp {tp}, fp {fp}, fn {fn})")
        for t in TYPES:
            lines.append(f"  {TYPE_NAMES[t]:10s} precision {_f(ev.precision(k, t))} recall {_f(ev.recall(k, t))} "
                         f"(tp {ev.tp[(k, t)]}, fp {ev.fp[(k, t)]}, fn {ev.fn[(k, t)]})")
    lines.append(f"end-to-end recall (expected tokens of every encounter labelled coded): {_f(ev.e2e_recall())} "
                 + ", ".join(f"{TYPE_NAMES[t]} {_f(ev.e2e_recall(t))}" for t in TYPES))
    lines.append(f"outcome disagreements: {len(ev.routing)}")
    for x in ev.routing[:confusion_limit]:
        lines.append(f"  {x['name']}: expected {x['expected']} ({x['label_reason'] or '-'}), got {x['got']} "
                     f"[{','.join(x['reasons'])}] -- {x['rationale'][:160]}")
    lines.append(f"confusion (coder-coded encounters with wrong or missing codes): {len(ev.confusion)}")
    for c in ev.confusion[:confusion_limit]:
        lines.append(f"  {c['name']}: got-not-expected={c['got_not_expected']} expected-not-got={c['expected_not_got']}")
        for tok, why in c["why"].items():
            lines.append(f"      {tok}: {why[:160]}")
    return "\n".join(lines)


# --- reading the folder ---------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def load_synthea(folder: Path = DEFAULT_DIR) -> list[dict[str, Any]]:
    return [lab for p in sorted((folder / "synthea").glob("*.jsonl")) for lab in _jsonl(p)]


def load_visits(folder: Path = DEFAULT_DIR) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(topic, EncounterEvent dict, label) for every hand-written visit."""
    out = []
    for lp in sorted((folder / "visits").glob("*.labels.jsonl")):
        topic = lp.name.removesuffix(".labels.jsonl")
        encs = {e["encounter_id"]: e for e in _jsonl(lp.with_name(topic + ".jsonl"))}
        for lab in _jsonl(lp):
            out.append((topic, encs[lab["encounter_id"]], lab))
    return out
