"""Offline coding: FHIR bundles or EncounterEvent JSON lines through the FHIR mapping, the
coder and the scrubber in one process, without Kafka (``claimflow code``).

The same rule code as the pipeline runs here; only the transport is missing. Each billable
encounter gives one result (:func:`result_line`), one JSON object per line:

``outcome``
    ``auto-coded`` (the coder coded it without a person), ``review`` (a coding review item:
    see ``review_reasons``), ``institutional`` (a facility stay: "institutional claim
    (837I) is not supported yet"), ``self-pay`` (coded; the export names no insurance, so
    no payer claim is made) or ``error`` (the export could not be read as an encounter;
    ``review_reasons`` says why). Coding is judged apart from the claim: an encounter coded
    without a person is ``auto-coded`` even when its claim is held for missing data.
``codes``
    ``diagnoses`` and ``service_lines`` with their provenance (documented / mapped /
    inferred / reviewed), rule id, confidence, source system and code; for a review these
    are the coder's proposals.
``claim``
    the scrubber's verdict on the claim built from an auto-coded encounter: ``clean`` or
    ``held``, with every finding (rule id, severity, message); ``null`` when no claim is made.

Nothing here logs or prints patient data; result lines carry the encounter id (an opaque
hash for FHIR input), the bundle name and the Encounter's logical id."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from claimflow.models import EncounterEvent, PlanType, safe_errors
from services.coder.logic import Coder
from services.coder.reference import CodingReference
from services.fhir_gateway.mapping import INSTITUTIONAL_REASON, map_bundles
from services.scrubber.history import InMemoryClaimHistory
from services.scrubber.logic import Scrubber, ScrubReference

OUTCOMES = ("auto-coded", "review", "institutional", "self-pay", "pre-icd10", "error")


@dataclass
class Pipeline:
    coder: Coder
    scrubber: Scrubber
    history: InMemoryClaimHistory = field(default_factory=InMemoryClaimHistory)
    practice: Any = None  # claimflow.practice.PracticeProfile: fills billing data the export lacks

    @classmethod
    def load(cls, *, refdata_dir: Path | None = None, payers_file: Path | None = None, threshold: float = 0.9,
             fetch_missing: bool = False, practice_file: Path | None = None) -> "Pipeline":
        """Coder and scrubber over ONE shared ICD-10-CM catalogue, and the practice profile."""
        from claimflow import practice

        ref = CodingReference.load(refdata_dir=refdata_dir, fetch_missing=fetch_missing)
        scrub_ref = ScrubReference.load(refdata_dir, payers_file=payers_file, icd_catalogue=ref.catalogue)
        return cls(Coder(ref, threshold), Scrubber(scrub_ref), practice=practice.load(practice_file))


def _is_bundle(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("resourceType") == "Bundle"


def read_inputs(path: Path) -> tuple[list[tuple[str, Any]], list[tuple[str, int, Any]]]:
    """(bundles, event lines) from a file or every ``*.json`` / ``*.jsonl`` / ``*.ndjson``
    file under a folder. A JSON line that is not an object is kept for the error report."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".ndjson"))
    bundles: list[tuple[str, Any]] = []
    lines: list[tuple[str, int, Any]] = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        if f.suffix == ".json":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                lines.append((f.name, 0, None))
                continue
            if _is_bundle(obj):
                bundles.append((f.name, obj))
            elif isinstance(obj, dict):
                lines.append((f.name, 1, obj))
            continue
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                obj = None
            if _is_bundle(obj):
                bundles.append((f"{f.name}:{n}", obj))
            else:
                lines.append((f.name, n, obj))
    return bundles, lines


def _dx_json(d) -> dict[str, Any]:
    return {"code": d.code, "provenance": d.provenance.value, "rule_id": d.rule_id, "confidence": d.confidence,
            "source_system": d.source_system, "source_code": d.source_code}


def _line_json(ln) -> dict[str, Any]:
    return {"code": ln.code, "modifiers": list(ln.modifiers), "units": ln.units, "charge": str(ln.charge),
            "pointers": list(ln.diagnosis_pointers), "provenance": ln.provenance.value, "rule_id": ln.rule_id,
            "confidence": ln.confidence}


def result_line(pipe: Pipeline, enc: EncounterEvent, facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    res = pipe.coder.code(enc, now)
    # the FHIR mapping says whether the export names no insurance (facts["self_pay"]); an
    # EncounterEvent says it by carrying no coverage at all
    no_insurance = facts["self_pay"] if "self_pay" in facts else enc.coverage is None
    self_pay = bool(no_insurance) or (enc.coverage is not None and enc.coverage.plan_type == PlanType.SELF_PAY)
    out: dict[str, Any] = {
        "encounter_id": enc.encounter_id, "source": facts.get("source"), "resource_id": facts.get("resource_id"),
        "date_of_service": enc.date_of_service.isoformat(), "claim_type": "professional",
    }
    if res.coded is not None:
        out["outcome"] = "self-pay" if self_pay else "auto-coded"
        out["codes"] = {"diagnoses": [_dx_json(d) for d in res.coded.diagnoses],
                        "service_lines": [_line_json(ln) for ln in res.coded.service_lines]}
        out["review_reasons"] = []
        if self_pay:
            out["claim"] = None
        else:
            sr = pipe.scrubber.scrub(res.coded, pipe.history, now)
            if sr.history_updates is not None:
                pipe.history.record(sr.history_updates)
            out["claim"] = {"verdict": sr.outcome, "findings": [
                {"rule_id": f.rule_id, "severity": f.severity.value, "family": f.family.value, "message": f.message}
                for f in sr.findings]}
    elif res.review.reasons and all(r.code == "INSTITUTIONAL_CLAIM" for r in res.review.reasons):
        out["outcome"], out["claim_type"] = "institutional", "institutional"
        out["codes"] = {"diagnoses": [], "service_lines": []}
        out["review_reasons"] = [{"code": r.code, "message": r.message, "subject": r.subject, "candidates": []}
                                 for r in res.review.reasons]
        out["claim"] = None
    else:
        rv = res.review
        out["outcome"] = "pre-icd10" if any(r.code == "DOS_BEFORE_ICD10" for r in rv.reasons) else "review"
        out["codes"] = {"diagnoses": [_dx_json(d) for d in rv.proposed_diagnoses],
                        "service_lines": [_line_json(ln) for ln in rv.proposed_service_lines]}
        out["review_reasons"] = [{"code": r.code, "message": r.message, "subject": r.subject, "candidates": list(r.candidates)}
                                 for r in rv.reasons]
        out["claim"] = None
    out["self_pay"] = self_pay
    return out


def _not_coded(outcome: str, reason_code: str, message: str, **where: Any) -> dict[str, Any]:
    return {"encounter_id": where.get("encounter_id"), "source": where.get("source"), "resource_id": where.get("resource_id"),
            "date_of_service": None, "claim_type": "institutional" if outcome == "institutional" else "professional",
            "outcome": outcome, "codes": {"diagnoses": [], "service_lines": []},
            "review_reasons": [{"code": reason_code, "message": message, "subject": None, "candidates": []}],
            "claim": None, "self_pay": False}


def run(pipe: Pipeline, path: Path, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    now = now or datetime.now(timezone.utc)
    bundles, lines = read_inputs(path)
    if bundles:
        mapped = map_bundles(bundles, practice=pipe.practice)
        for enc in mapped.events:
            yield result_line(pipe, enc, mapped.facts.get(enc.encounter_id, {}), now)
        for o in mapped.outcomes:
            if o.resource_type != "Encounter":
                continue
            if o.status == "ignored" and o.reason == INSTITUTIONAL_REASON:
                yield _not_coded("institutional", "INSTITUTIONAL_CLAIM", INSTITUTIONAL_REASON, source=o.source, resource_id=o.resource_id)
            elif o.status == "error":
                code = "MISSING_BIRTH_DATE" if "birthDate" in o.reason else "MAPPING_ERROR"
                yield _not_coded("review" if code == "MISSING_BIRTH_DATE" else "error", code, o.reason,
                                 source=o.source, resource_id=o.resource_id)
    for name, n, obj in lines:
        where = {"source": f"{name}:{n}"}
        if not isinstance(obj, dict):
            yield _not_coded("error", "INVALID_JSON", "line is not a JSON object", **where)
            continue
        try:
            enc = EncounterEvent.model_validate(obj)
        except ValidationError as exc:
            errs = safe_errors(exc)
            code = "MISSING_BIRTH_DATE" if "date_of_birth" in str(errs) else "INVALID_ENCOUNTER"
            yield _not_coded("review" if code == "MISSING_BIRTH_DATE" else "error", code,
                             f"not a valid EncounterEvent: {errs}", encounter_id=str(obj.get("encounter_id"))[:64], **where)
            continue
        yield result_line(pipe, enc, where, now)


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts (no PHI): outcomes, review reasons (per encounter), claim verdicts, held reasons."""
    outcomes: Counter = Counter()
    reasons: Counter = Counter()
    verdicts: Counter = Counter()
    held_by: Counter = Counter()
    n = 0
    self_pay_any = 0
    for r in results:
        n += 1
        outcomes[r["outcome"]] += 1
        self_pay_any += bool(r.get("self_pay"))
        if r["outcome"] == "review":
            for code in {x["code"] for x in r["review_reasons"]}:
                reasons[code] += 1
        if r.get("claim"):
            verdicts[r["claim"]["verdict"]] += 1
            if r["claim"]["verdict"] == "held":
                for rid in {f["rule_id"] for f in r["claim"]["findings"] if f["severity"] == "error"}:
                    held_by[rid] += 1
    professional = n - outcomes["institutional"]
    coded = outcomes["auto-coded"] + outcomes["self-pay"]
    icd10_era = professional - outcomes["pre-icd10"]
    return {"encounters": n, "professional": professional, "professional_icd10_era": icd10_era,
            "outcomes": dict(outcomes),
            "auto_coded_share_of_professional": round(coded / professional, 4) if professional else 0.0,
            "auto_coded_share_of_icd10_era": round(coded / icd10_era, 4) if icd10_era else 0.0,
            "review_reasons": dict(reasons.most_common()), "claims": dict(verdicts), "held_by_rule": dict(held_by.most_common()),
            "self_pay_encounters": self_pay_any}
