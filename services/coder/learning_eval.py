"""``claimflow eval coding --learning`` (``make eval-coding-learning``): does learning from coders
raise auto-coding without losing precision? In process, no Kafka: the same rule code as the
service (``services.coder.learning`` over a dict instead of the coder's Faust table).

1. The shared Synthea bundles go through the FHIR mapping and the coder; every review item
   that has an independent label (``tests/labels/synthea/*.jsonl``, or the older
   ``tests/fixtures/coding_labelled/synthea_labels.jsonl`` when that folder is absent) takes
   part.
2. Order: by the SHA-256 of "bundle file name/Encounter id" (deterministic, and it mixes
   patients and years, so both halves hold pre-ICD-10, ICD-10-era, preventive and COVID-19
   visits alike; a date order would teach only from pre-ICD-10 visits). The first half (``n // 2`` items) is *taught*: a simulated
   coder resolves each item with the label's answer. A label that codes the visit gives an
   accept (when the proposal already matches) or an edit with the labelled codes; a label
   that says a person cannot code it (review, pre-ICD-10) gives a query to the provider,
   which teaches nothing. The coder applies each resolution with its own checks and the
   learned mapping records the decisions.
3. The second half is coded before (coder alone) and after (coder + what was learned), and
   measured against the labels: auto-coded review items, auto-coding of every labelled
   encounter not used for teaching, and precision/recall of inferred tokens
   (``labelled.evaluate``: learned codes count as inferred) on those encounters.

The labels were written by a labeller who did not run the coder; the simulated coder's
answers are those labels, never the coder's output. Prints counts, codes and concept codes
only (no patient data)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from claimflow.models import (
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    CodingResolution,
    EncounterEvent,
    Provenance,
    ResolutionAction,
)
from services.coder import labelled, labelset, learning
from services.coder.logic import Coder, CodingResult
from services.coder.resolution import HUMAN_RULE_ID, apply_resolution, code_type_of

REPO = Path(__file__).resolve().parents[2]
LABELS_DIR = REPO / "tests" / "labels"
OLD_LABELS_DIR = REPO / "tests" / "fixtures" / "coding_labelled"
CODED_OUTCOMES = {"coded", "auto-coded", "self-pay"}


def load_answers(folder: Path | None = None) -> tuple[Path, dict[tuple[str, str], dict[str, Any]]]:
    """(folder used, (bundle, Encounter id) -> label with ``outcome`` coded|review and the
    comparison tokens). Reads ``<folder>/synthea/*.jsonl`` or the older single-file set."""
    folder = folder or (LABELS_DIR if (LABELS_DIR / "synthea").is_dir() else OLD_LABELS_DIR)
    rows = labelset.load_synthea(folder) if (folder / "synthea").is_dir() else labelled.load_synthea_labels(folder)
    return folder, {(r["bundle"], r["encounter"]): r for r in rows}


def codable(label: dict[str, Any]) -> bool:
    """The label codes the visit (auto-coded / self-pay, or ``coded`` in the older set)."""
    return label.get("outcome") in CODED_OUTCOMES


def _label_lines(label: dict[str, Any]) -> list[tuple[str, tuple[str, ...], int]]:
    if label.get("lines"):
        return [(ln["code"], tuple(ln.get("modifiers", [])), int(ln.get("units", 1))) for ln in label["lines"]]
    mods: dict[str, list[str]] = {}
    for m in label.get("modifiers", []):
        code, mod = m.split("-", 1)
        mods.setdefault(code, []).append(mod)
    out = []
    for t in label.get("cpt", []):
        code, _, units = t.partition("x")
        out.append((code, tuple(mods.get(code, [])), int(units or 1)))
    return out


def simulated_resolution(ref, enc: EncounterEvent, review, label: dict[str, Any], n: int) -> CodingResolution:
    """The simulated coder's decision: the label's answer (see the module doc)."""
    base = dict(resolution_id=f"SIM{n:04d}", encounter_id=enc.encounter_id, encounter_version=enc.version,
                review_routed_at=review.routed_at, resolved_by="simulated-coder", resolved_role="coder",
                resolved_at=review.routed_at, before_diagnoses=review.proposed_diagnoses,
                before_service_lines=review.proposed_service_lines)
    if not codable(label):
        return CodingResolution(action=ResolutionAction.QUERY_PROVIDER, reason="labelled: documentation does not support coding", **base)
    version = ref.code_set_for(enc.date_of_service).version or ""
    dx = [CodedDiagnosis(sequence=i, code=c, provenance=Provenance.REVIEWED, confidence=1.0, rule_id=HUMAN_RULE_ID,
                         code_set_version=version) for i, c in enumerate(label.get("icd10cm", []), start=1)]
    proposed = {ln.code: ln.charge / ln.units for ln in review.proposed_service_lines}
    lines = []
    for i, (code, mods, units) in enumerate(_label_lines(label), start=1):
        unit = proposed.get(code, ref.fee(code, list(mods)) or Decimal("0.00"))
        lines.append(CodedServiceLine(line_number=i, code=code, code_type=code_type_of(code), modifiers=list(mods), units=units,
                                      charge=(unit * units).quantize(Decimal("0.01")),
                                      diagnosis_pointers=list(range(1, min(len(dx), 4) + 1)) or [1],
                                      provenance=Provenance.REVIEWED, confidence=1.0, rule_id=HUMAN_RULE_ID, code_set_version="sim"))
    same = (sorted(d.code for d in dx) == sorted(d.code for d in review.proposed_diagnoses)
            and sorted(learning.line_token(ln.code, ln.modifiers, ln.units) for ln in lines)
            == sorted(learning.line_token(ln.code, ln.modifiers, ln.units) for ln in review.proposed_service_lines))
    if same:
        return CodingResolution(action=ResolutionAction.ACCEPT, diagnoses=review.proposed_diagnoses,
                                service_lines=review.proposed_service_lines, **base)
    return CodingResolution(action=ResolutionAction.EDIT, reason="labelled answer", diagnoses=dx, service_lines=lines, **base)


class LearningCoder:
    """The coder plus the learned mapping, with the ``Coder.code`` interface (for offline.Pipeline)."""

    def __init__(self, coder: Coder, store: learning.LearnedStore, k: int):
        self.coder, self.store, self.k, self.ref = coder, store, k, coder.ref

    def code(self, enc: EncounterEvent, now: datetime) -> CodingResult:
        res = self.coder.code(enc, now)
        if res.review is None:
            return res
        out = learning.apply(self.ref, enc, res.review, self.store.counts, self.k, now)
        return CodingResult(out.coded, out.review)


@dataclass
class LearningReport:
    k: int
    labels: Path
    review_items: int = 0
    taught: int = 0
    taught_actions: Counter = field(default_factory=Counter)
    rejected: int = 0  # labelled codes that failed the coder's checks (not learned)
    decisions: int = 0
    second_half: int = 0
    auto_before: int = 0
    auto_after: int = 0
    held_back: Counter = field(default_factory=Counter)  # why second-half items stayed in review
    eval_total: int = 0
    eval_auto_before: int = 0
    eval_auto_after: int = 0
    before: Any = None  # labelset.LabelSetEvaluation (tests/labels) or labelled.LabelledEvaluation (older set)
    after: Any = None
    learned_only: Any = None
    concepts: dict[str, str] = field(default_factory=dict)


def run(synthea_dir: Path, labels_dir: Path | None = None, k: int = learning.DEFAULT_K, now: datetime | None = None) -> LearningReport:
    from claimflow import practice
    from services.coder import offline
    from services.coder.reference import CodingReference
    from services.fhir_gateway.mapping import map_bundles
    from services.scrubber.logic import Scrubber, ScrubReference

    now = now or datetime.now(timezone.utc)
    folder, answers = load_answers(labels_dir)
    rep = LearningReport(k=k, labels=folder)
    ref = CodingReference.load()
    coder = Coder(ref)
    bundles, _ = offline.read_inputs(synthea_dir)
    mapped = map_bundles(bundles, practice=practice.load())
    encs = []
    for enc in mapped.events:
        facts = mapped.facts.get(enc.encounter_id, {})
        label = answers.get((facts.get("source"), facts.get("resource_id")))
        if label is not None:
            encs.append((enc, facts, label))
    encs.sort(key=lambda x: hashlib.sha256(f"{x[1].get('source')}/{x[1].get('resource_id')}".encode()).hexdigest())
    items = [(enc, facts, label, r.review) for enc, facts, label in encs if (r := coder.code(enc, now)).review is not None]
    rep.review_items = len(items)
    half = len(items) // 2
    taught, second = items[:half], items[half:]
    store = learning.LearnedStore({}, partitions=1)
    for n, (enc, facts, label, review) in enumerate(taught):
        rep.taught += 1
        res = simulated_resolution(ref, enc, review, label, n)
        rep.taught_actions[res.action.value] += 1
        if res.action is ResolutionAction.QUERY_PROVIDER:
            continue
        if not isinstance(apply_resolution(ref, enc, res, now), CodedEncounter):
            rep.rejected += 1
            continue
        concepts, _ = learning.review_concepts(enc, review)
        rep.decisions += len(store.learn(0, concepts, res))
    for key in sorted({k for k in store.table}):
        concept = key.split("/", 1)[1]
        rep.concepts[concept] = ", ".join(f"{learning.decision_words(d)} x{n}" for d, n in store.counts(concept).items())

    taught_ids = {enc.encounter_id for enc, *_ in taught}
    learner = LearningCoder(coder, store, k)
    rep.second_half = len(second)
    for enc, facts, label, review in second:
        out = learning.apply(ref, enc, review, store.counts, k, now)
        rep.auto_after += out.coded is not None
        if out.coded is None:
            concepts, other = learning.review_concepts(enc, review)
            why = sorted({r.code for r in other}) or ["concept not learned" if k > 0 else "learning off"]
            if any(r.code == "LEARNED_DISAGREEMENT" for r in out.review.reasons):
                why = ["LEARNED_DISAGREEMENT"]
            rep.held_back[",".join(why)] += 1

    independent = (folder / "synthea").is_dir()

    def evaluate(pairs):
        if independent:
            return labelset.evaluate(pairs)
        return labelled.evaluate([(n, r, {**lab, "outcome": "coded" if codable(lab) else "review"}, set()) for n, r, lab, _ in pairs])

    def measure(pipe_coder):
        scrub = Scrubber(ScrubReference.load(icd_catalogue=ref.catalogue))
        pipe = offline.Pipeline(pipe_coder, scrub, practice=practice.load())
        pairs, auto = [], 0
        for enc, facts, label in encs:
            if enc.encounter_id in taught_ids:
                continue
            r = offline.result_line(pipe, enc, facts, now)
            auto += r["outcome"] in ("auto-coded", "self-pay")
            pairs.append((f"synthea:{facts['source'][:12]}:{facts['resource_id'][:8]}", r, label, None))
        return evaluate(pairs), pairs, auto

    rep.before, _, rep.eval_auto_before = measure(coder)
    rep.after, pairs_after, rep.eval_auto_after = measure(learner)
    rep.eval_total = len(encs) - len(taught_ids)
    learned_pairs = [p for p in pairs_after if any(d["provenance"] == "learned" for d in p[1]["codes"]["diagnoses"])
                     or any(ln["provenance"] == "learned" for ln in p[1]["codes"]["service_lines"])]
    rep.learned_only = evaluate(learned_pairs)
    return rep


def report(rep: LearningReport) -> str:
    def pr(ev) -> str:
        if isinstance(ev, labelset.LabelSetEvaluation):  # inferred tokens (learned codes are inferred), passthrough apart
            tp, fp, fn = (sum(v for (k, _), v in c.items() if k == "inferred") for c in (ev.tp, ev.fp, ev.fn))
            return (f"inferred precision {ev.precision('inferred'):.4f} recall {ev.recall('inferred'):.4f} (tp {tp}, fp {fp}, fn {fn}); "
                    f"passthrough precision {ev.precision('passthrough'):.4f}; outcome agreement {ev.outcome_agree}/{ev.total}; "
                    f"coded by the coder {ev.coded_by_coder}")
        return (f"inferred precision {ev.precision():.4f} recall {ev.recall():.4f} (tp {sum(ev.tp.values())}, fp {sum(ev.fp.values())}, "
                f"fn {sum(ev.fn.values())}; auto-coded {ev.auto_coded})")

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({a / b:.1%})" if b else f"{a}/0"

    lines = [
        f"labels (simulated coder's answers and precision): {rep.labels}; k = {rep.k}",
        f"labelled Synthea review items: {rep.review_items}; taught (first half, by SHA-256 of bundle/Encounter id): {rep.taught} "
        f"({', '.join(f'{a}={n}' for a, n in sorted(rep.taught_actions.items()))}; labelled codes failing the checks: {rep.rejected}); "
        f"concept decisions recorded: {rep.decisions}",
        "learned mapping: " + ("; ".join(f"{c} -> {d}" for c, d in rep.concepts.items()) or "(empty)"),
        f"second-half review items auto-coded: before {pct(rep.auto_before, rep.second_half)}, after {pct(rep.auto_after, rep.second_half)}",
        "  still in review, by reason: " + (", ".join(f"{w}={n}" for w, n in rep.held_back.most_common()) or "none"),
        f"labelled encounters not used for teaching: {rep.eval_total}; auto-coded before {pct(rep.eval_auto_before, rep.eval_total)}, "
        f"after {pct(rep.eval_auto_after, rep.eval_total)}",
        f"  before: {pr(rep.before)}",
        f"  after:  {pr(rep.after)}",
        f"  encounters coded with learned codes: {pr(rep.learned_only)}",
    ]
    for c in rep.learned_only.confusion:
        if isinstance(c, dict):
            lines.append(f"    {c['name']}: got-not-expected={c['got_not_expected']} expected-not-got={c['expected_not_got']}")
        else:
            lines.append(f"    {c[0]}: predicted-not-expected={c[1]} expected-not-predicted={c[2]}")
    return "\n".join(lines)
