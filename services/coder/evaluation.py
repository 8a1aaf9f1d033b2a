"""Evaluation of the coder on the labelled set in ``tests/fixtures/coding/``.

``python -m services.coder.evaluation [FIXTURE_DIR] [--threshold 0.9]`` prints the share
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

from claimflow.models import EncounterEvent
from services.coder.logic import Coder, CodingReference

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


def _coded_tokens(coded) -> list[str]:
    return [f"dx:{d.code}" for d in coded.diagnoses] + [
        "px:" + "-".join([ln.code, *ln.modifiers]) for ln in coded.service_lines
    ]


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
        f"precision (auto-coded): {ev.precision:.4f}",
        f"recall (auto-coded): {ev.recall:.4f}",
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate the coder on the labelled fixtures")
    ap.add_argument("fixtures", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--fetch", action="store_true", help="download missing previous-FY code sets first")
    args = ap.parse_args(argv)
    ref = CodingReference.load(fetch_missing=args.fetch)
    if ref.missing_fiscal_years:
        for fy, why in sorted(ref.missing_fiscal_years.items()):
            print(f"WARNING: {why}")
    ev = evaluate(Coder(ref, args.threshold), load_fixtures(args.fixtures))
    print(report(ev))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
