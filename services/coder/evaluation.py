"""Evaluation of the coder: three reports.

1. The regression set in ``tests/fixtures/coding/`` (written by the team with the rules: a
   regression test, not an accuracy figure), with passthrough tokens (codes documented in
   the input) reported apart from the inferred ones.
2. The shared Synthea bundles through ``claimflow code`` (mapping, coder, scrubber):
   encounters, auto-coded, reviewed by reason, institutional, self-pay, claims clean/held.
3. The independently labelled set in ``tests/labels/`` (see its README; labels written from
   the guidelines before the coder ran, :mod:`services.coder.labelset`): outcome accuracy,
   precision/recall per code type (ICD-10-CM, CPT/HCPCS, modifiers, E/M level) for inferred
   and passthrough tokens apart, end-to-end recall and the confusion list with rationales.
4. The earlier labelled set in ``tests/fixtures/coding_labelled/`` (written by the coder's
   developer: kept for comparison, not independent).

Part 1 in detail: ``python -m services.coder.evaluation [FIXTURE_DIR] [--threshold 0.9]`` prints the share
of encounters auto-coded (not sent to review), precision and recall of the codes on the
auto-coded encounters, routing agreement with the labels, and the confusion list of wrong
codes. Codes are compared as tokens ``dx:E11.9`` and ``px:99214-25`` (modifiers in order).
An auto-coded encounter whose label says review counts all its codes as false positives
(against the codes the label lists, usually none). Prints scenario names and codes only."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from claimflow.models import EncounterEvent, Provenance
from services.coder.logic import CVX_SYSTEMS, SNOMED_SYSTEMS, Coder, CodingReference

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "coding"


@dataclass
class Evaluation:
    total: int = 0
    auto_coded: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    routing_agree: int = 0
    expected_review_caught: int = 0
    expected_review: int = 0
    confusion: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    wrong_routing: list[tuple[str, str, str]] = field(default_factory=list)
    review_reason_counts: Counter = field(default_factory=Counter)
    # tokens split by where the code came from: passthrough = documented in the input
    passthrough_predicted: int = 0
    inferred_tp: int = 0
    inferred_fp: int = 0
    inferred_fn: int = 0
    expected_passthrough: int = 0
    expected_total: int = 0

    @property
    def inferred_precision(self) -> float:
        d = self.inferred_tp + self.inferred_fp
        return self.inferred_tp / d if d else 1.0

    @property
    def inferred_recall(self) -> float:
        d = self.inferred_tp + self.inferred_fn
        return self.inferred_tp / d if d else 1.0

    @property
    def auto_rate(self) -> float:
        return self.auto_coded / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_fixtures(directory: Path = DEFAULT_DIR) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def _expected_tokens(exp: dict) -> list[str]:
    return [f"dx:{c}" for c in exp.get("diagnoses", [])] + [f"px:{c}" for c in exp.get("lines", [])]


PASSTHROUGH = {Provenance.DOCUMENTED, Provenance.REVIEWED}


def _coded_tokens(coded, passthrough: bool | None = None) -> list[str]:
    """``passthrough=True``: only codes documented in the input; ``None``: all."""
    keep = (lambda p: True) if passthrough is None else (lambda p: (p in PASSTHROUGH) == passthrough)
    return [f"dx:{d.code}" for d in coded.diagnoses if keep(d.provenance)] + [
        "px:" + "-".join([ln.code, *ln.modifiers]) for ln in coded.service_lines if keep(ln.provenance)
    ]


def _bare(token: str) -> str:
    return token.split(":", 1)[1].split("-")[0].replace(".", "")


def _documented_tokens(enc: EncounterEvent) -> set[str]:
    """Codes present in the input as ICD-10-CM / CPT / HCPCS (dotless)."""
    out = {(d.code or "").replace(".", "").upper() for d in enc.diagnoses if d.code and d.system not in SNOMED_SYSTEMS}
    out |= {(p.code or "").upper() for p in enc.procedures if p.code and p.system not in SNOMED_SYSTEMS | CVX_SYSTEMS}
    return out


def evaluate(coder: Coder, fixtures: list[dict], now: datetime | None = None) -> Evaluation:
    now = now or datetime.now(timezone.utc)
    ev = Evaluation()
    for fx in fixtures:
        ev.total += 1
        exp = fx["expected"]
        enc = EncounterEvent.model_validate(fx["encounter"])
        result = coder.code(enc, now)
        got = "coded" if result.coded is not None else "review"
        if exp["outcome"] == "review":
            ev.expected_review += 1
        if got == exp["outcome"]:
            ev.routing_agree += 1
            if got == "review":
                ev.expected_review_caught += 1
        else:
            detail = ",".join(r.code for r in result.review.reasons) if result.review else ""
            ev.wrong_routing.append((fx["scenario"], f"expected {exp['outcome']}, got {got}", detail))
        if result.review is not None:
            for r in result.review.reasons:
                ev.review_reason_counts[r.code] += 1
            continue
        ev.auto_coded += 1
        predicted = Counter(_coded_tokens(result.coded))
        expected = Counter(_expected_tokens(exp)) if exp["outcome"] == "coded" else Counter()
        documented = _documented_tokens(enc)
        pass_pred = Counter(_coded_tokens(result.coded, passthrough=True))
        inf_pred = predicted - pass_pred
        inf_exp = Counter({t: n for t, n in expected.items() if _bare(t) not in documented})
        ev.passthrough_predicted += sum(pass_pred.values())
        ev.expected_total += sum(expected.values())
        ev.expected_passthrough += sum(expected.values()) - sum(inf_exp.values())
        itp = sum((inf_pred & inf_exp).values())
        ev.inferred_tp += itp
        ev.inferred_fp += sum(inf_pred.values()) - itp
        ev.inferred_fn += sum(inf_exp.values()) - itp
        tp = sum((predicted & expected).values())
        ev.tp += tp
        ev.fp += sum(predicted.values()) - tp
        ev.fn += sum(expected.values()) - tp
        if predicted != expected:
            ev.confusion.append((fx["scenario"], sorted((predicted - expected).elements()), sorted((expected - predicted).elements())))
    return ev


def report(ev: Evaluation) -> str:
    lines = [
        f"encounters: {ev.total}",
        f"auto-coded: {ev.auto_coded} ({ev.auto_rate:.1%})",
        f"precision (auto-coded, all tokens): {ev.precision:.4f}",
        f"recall (auto-coded, all tokens): {ev.recall:.4f}",
        f"tokens passed through from the input: predicted {ev.passthrough_predicted}, "
        f"expected {ev.expected_passthrough} of {ev.expected_total}",
        f"inferred tokens (mapped or inferred by the rules): precision {ev.inferred_precision:.4f} "
        f"recall {ev.inferred_recall:.4f} (tp {ev.inferred_tp}, fp {ev.inferred_fp}, fn {ev.inferred_fn})",
        f"routing agreement with labels: {ev.routing_agree}/{ev.total}",
        f"labelled-review encounters sent to review: {ev.expected_review_caught}/{ev.expected_review}",
        "review reasons: " + ", ".join(f"{k}={v}" for k, v in ev.review_reason_counts.most_common()),
        f"confusion (wrong codes on auto-coded encounters): {len(ev.confusion)}",
    ]
    for scenario, extra, missing in ev.confusion:
        lines.append(f"  {scenario}: predicted-not-expected={extra} expected-not-predicted={missing}")
    lines.append(f"routing disagreements: {len(ev.wrong_routing)}")
    for scenario, what, detail in ev.wrong_routing:
        lines.append(f"  {scenario}: {what} {detail}")
    return "\n".join(lines)


SYNTHEA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "fhir" / "synthea-covid-r4"
LABELLED_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "coding_labelled"
INDEPENDENT_DIR = Path(__file__).resolve().parents[2] / "tests" / "labels"


def synthea_report(summary: dict) -> str:
    o = summary["outcomes"]
    lines = [
        f"encounters: {summary['encounters']} (professional {summary['professional']}, institutional {o.get('institutional', 0)}, "
        f"pre-ICD-10 (before 2015-10-01) {o.get('pre-icd10', 0)})",
        f"auto-coded: {o.get('auto-coded', 0) + o.get('self-pay', 0)} = {summary['auto_coded_share_of_professional']:.1%} of professional, "
        f"{summary.get('auto_coded_share_of_icd10_era', 0.0):.1%} of the {summary.get('professional_icd10_era', 0)} professional "
        f"encounters in the ICD-10 era (of which self-pay {o.get('self-pay', 0)}); review {o.get('review', 0)}; "
        f"unreadable {o.get('error', 0)}; "
        f"self-pay per the export (any outcome): {summary.get('self_pay_encounters', 0)}",
        "reviewed, by reason (encounters): " + ", ".join(f"{k}={v}" for k, v in summary["review_reasons"].items()),
        "claims: " + ", ".join(f"{k}={v}" for k, v in summary["claims"].items()) + "; held by rule: "
        + ", ".join(f"{k}={v}" for k, v in summary["held_by_rule"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from services.coder import labelled, offline
    from services.scrubber.logic import Scrubber, ScrubReference

    ap = argparse.ArgumentParser(description="Evaluate the coder: regression set, shared Synthea bundles, labelled set")
    ap.add_argument("fixtures", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--fetch", action="store_true", help="download missing pinned code sets first")
    ap.add_argument("--synthea", type=Path, default=SYNTHEA_DIR)
    ap.add_argument("--labelled", type=Path, default=LABELLED_DIR)
    ap.add_argument("--independent", type=Path, default=INDEPENDENT_DIR, help="the independently labelled set (tests/labels)")
    args = ap.parse_args(argv)
    ref = CodingReference.load(fetch_missing=args.fetch)
    print("ICD-10-CM code sets: " + "; ".join(f"FY{fy}: {v}" for fy, v in ref.catalogue.describe().items()))
    coder = Coder(ref, args.threshold)
    print("\n== 1. regression set (tests/fixtures/coding; written with the rules: not an accuracy figure)")
    print(report(evaluate(coder, load_fixtures(args.fixtures))))

    from claimflow import practice

    pipe = offline.Pipeline(coder, Scrubber(ScrubReference.load(icd_catalogue=ref.catalogue)), practice=practice.load())
    now = datetime.now(timezone.utc)
    results: list[dict] = []
    print(f"\n== 2. shared Synthea bundles ({args.synthea})")
    if args.synthea.is_dir():
        results = list(offline.run(pipe, args.synthea, now))
        print(synthea_report(offline.summarize(results)))
    else:
        print(f"skipped: {args.synthea} is not present")

    print(f"\n== 3. independently labelled set ({args.independent}; labels written before the coder ran)")
    from services.coder import labelset

    by_key = {(r.get("source"), r.get("resource_id")): r for r in results}
    pairs3: list = []
    missing3 = 0
    for lab in labelset.load_synthea(args.independent):
        r = by_key.get((lab["bundle"], lab["encounter"]))
        if r is None:
            missing3 += 1
            continue
        pairs3.append((f"synthea:{lab['bundle'].split('_')[0]}:{lab['encounter'][:8]}", r, lab, None))
    for topic, enc, lab in labelset.load_visits(args.independent):
        r = offline.result_line(pipe, EncounterEvent.model_validate(enc), {"source": f"{topic}:{enc['encounter_id']}"}, now)
        pairs3.append((f"visit:{enc['encounter_id']}", r, lab, enc))
    if missing3:
        print(f"skipped {missing3} Synthea labels: their bundles are not present ({args.synthea})")
    print(labelset.report(labelset.evaluate(pairs3)))

    print(f"\n== 4. earlier labelled set ({args.labelled}; written by the coder's developer: not independent)")
    pairs = []
    missing = 0
    for lab in labelled.load_synthea_labels(args.labelled):
        r = by_key.get((lab["bundle"], lab["encounter"]))
        if r is None:
            missing += 1
            continue
        pairs.append((f"synthea:{lab['bundle'][:12]}:{lab['encounter'][:8]}", r, lab, set()))
    if (args.labelled / "visits.py").exists():
        for name, enc, lab in labelled.load_visits(args.labelled):
            r = offline.result_line(pipe, EncounterEvent.model_validate(enc), {"source": name}, now)
            pairs.append((f"visit:{name}", r, lab, labelled.documented_codes(enc)))
    if missing:
        print(f"WARNING: {missing} Synthea labels had no result (bundles absent or changed)")
    print(labelled.report(labelled.evaluate(pairs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
