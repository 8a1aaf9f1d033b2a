"""Learning from coders (pure: no Faust, no Kafka; the service and ``claimflow eval coding
--learning`` run this same code).

A *concept* is a documented code the coder could not code on its own: the code system and
code of a documented diagnosis or procedure that a review reason was about (an unmapped or
unspecific SNOMED CT concept, a CVX vaccine with several products, a documented ICD-10-CM
header code, a low-confidence map...). Its key is ``kind|system|code``, e.g.
``dx|snomed|44054006``; free text and the visit itself (E/M level) are not concepts.

Every applied ``CodingResolution`` (accept or edit whose codes passed the coder's checks)
is one *decision* per concept of its review: the codes of the person's result that belong
to that concept (``decision_tokens``), possibly none ("this concept is not coded").
- Accepting the proposal unchanged confirms it: the decision is what the proposal already
  had for the concept (its low-confidence code, or no code for an unmapped concept).
- Codes the person added are the concept's when the review had one concept of that kind
  (diagnosis or procedure), or, with several, when exactly one concept listed the code among
  its candidates; when an added code cannot be attributed, nothing is learned from that
  resolution for that kind (a guess would teach the wrong thing). E/M codes belong to the
  visit, never to a documented procedure concept.
- A query to the provider, or codes that failed the checks, teach nothing.

The rule (``verdict``): when ``k`` decisions on a concept agree and none disagrees, the
coder codes the concept itself from then on (provenance ``learned``, rule LEARNED-001, note
"learned from N coder decisions"). One disagreeing decision sends the concept back to
review, with a reason that names the disagreement. A learned code is still checked with the
coder's validity rules for the date of service (``resolution.check_human_codes``): a code
not valid or not billable on that date sends the encounter to review.

An encounter is coded by learning only when *every* reason of its review is a concept with a
learned decision; any other reason (E/M, missing documentation, free text...) keeps it in
review unchanged (with the disagreement reasons added, when there are any)."""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from claimflow.models import (
    ChargeSource,
    CodedDiagnosis,
    CodedEncounter,
    CodedServiceLine,
    CodingResolution,
    CodingReviewItem,
    EncounterEvent,
    Provenance,
    ResolutionAction,
    ReviewReason,
)
from services.coder import em
from services.coder.logic import (
    CODER_VERSION,
    CPT_SYSTEMS,
    CVX_SYSTEMS,
    HCPCS_SYSTEMS,
    ICD10_SYSTEMS,
    MAX_POINTERS,
    PROC_REF_VERSION,
    SNOMED_SYSTEMS,
)
from services.coder.reference import CodingReference
from services.coder.resolution import DraftLine, check_human_codes, code_type_of, normalize_dx

LEARNED_RULE_ID = "LEARNED-001"
LEARNED_CONFIDENCE = 0.95
DEFAULT_K = 3
SEEN_KEEP = 200  # resolution ids remembered per concept and partition (redelivery guard)

# review reasons about one documented concept that a person's decision can settle
DX_REASONS = {"DX_UNMAPPED_SNOMED", "DX_SNOMED_NEEDS_SPECIFICITY", "DX_LOW_CONFIDENCE", "DX_HEADER_CODE", "DX_UNKNOWN_CODE",
              "DX_UNSUPPORTED_SYSTEM", "DX_INVALID_FOR_DOS_YEAR"}
PX_REASONS = {"PROC_UNMAPPED_SNOMED", "PROC_SNOMED_NEEDS_SPECIFICITY", "PROC_UNKNOWN_CODE", "PROC_UNSUPPORTED_SYSTEM",
              "IMM_PRODUCT_AMBIGUOUS", "IMM_NO_PRODUCT_MATCH", "IMM_ADMIN_AMBIGUOUS"}
VISIT_CODES = em.OFFICE_EM | em.PREVENTIVE
_SUBJECT = re.compile(r"^(diagnosis|procedure|diagnosis_code)\[(\d+)\]$")
SYSTEM_NAMES = {"snomed": "SNOMED CT", "cvx": "CVX", "icd10cm": "ICD-10-CM", "cpt": "CPT", "hcpcs": "HCPCS"}


def system_name(system: str | None) -> str:
    s = (system or "").strip()
    for name, group in (("snomed", SNOMED_SYSTEMS), ("cvx", CVX_SYSTEMS), ("icd10cm", ICD10_SYSTEMS),
                        ("cpt", CPT_SYSTEMS), ("hcpcs", HCPCS_SYSTEMS)):
        if s in group:
            return name
    return s.lower()[:80] or "none"


@dataclass(frozen=True)
class Concept:
    kind: str  # "dx" | "px"
    system: str  # short name, see system_name
    code: str
    display: str = ""
    index: int = 0  # position in enc.diagnoses / enc.procedures
    own: tuple[str, ...] = ()  # tokens of the proposal that came from this concept (a low-confidence map)
    candidates: tuple[str, ...] = ()
    primary: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.system}|{self.code}"

    def words(self) -> str:
        return f"{SYSTEM_NAMES.get(self.system, self.system)} {self.code}"


def line_token(code: str, modifiers, units: int) -> str:
    return code.strip().upper() + "".join(f"-{m}" for m in modifiers) + (f"x{units}" if units > 1 else "")


def parse_line_token(token: str) -> tuple[str, tuple[str, ...], int]:
    units = 1
    if "x" in token:
        token, u = token.rsplit("x", 1)
        units = int(u)
    code, *mods = token.split("-")
    return code, tuple(mods), units


def decision_key(tokens) -> str:
    """A decision as a string (sorted tokens, ``""`` for "no code"): the table stores strings."""
    return " ".join(sorted(set(tokens)))


def decision_words(key: str) -> str:
    return key.replace(" ", " + ") if key else "no code"


# --- which concepts a review was about --------------------------------------------------------


def review_concepts(enc: EncounterEvent, review: CodingReviewItem) -> tuple[list[Concept], list[ReviewReason]]:
    """(concepts the review was about, reasons that are about no concept). Pure."""
    concepts: dict[str, Concept] = {}
    other: list[ReviewReason] = []
    for r in review.reasons:
        m = _SUBJECT.match(r.subject or "")
        c = None
        if m and r.code in DX_REASONS and m.group(1) == "diagnosis_code":
            seq = int(m.group(2))
            d = next((x for x in review.proposed_diagnoses if x.sequence == seq), None)
            if d is not None and d.source_code:
                i = next((i for i, x in enumerate(enc.diagnoses) if x.code == d.source_code and x.system == d.source_system), None)
                if i is not None:
                    src = enc.diagnoses[i]
                    c = Concept("dx", system_name(src.system), src.code.strip(), src.display, i, (d.code,), tuple(r.candidates), src.is_primary)
        elif m and r.code in DX_REASONS and m.group(1) == "diagnosis":
            i = int(m.group(2))
            if i < len(enc.diagnoses) and (enc.diagnoses[i].code or "").strip():
                src = enc.diagnoses[i]
                c = Concept("dx", system_name(src.system), src.code.strip(), src.display, i, (), tuple(r.candidates), src.is_primary)
        elif m and r.code in PX_REASONS and m.group(1) == "procedure":
            i = int(m.group(2))
            if i < len(enc.procedures) and (enc.procedures[i].code or "").strip():
                src = enc.procedures[i]
                c = Concept("px", system_name(src.system), src.code.strip().upper(), src.display, i, (), tuple(r.candidates))
        if c is None:
            other.append(r)
            continue
        prev = concepts.get(c.key)
        if prev is not None:  # the same concept documented twice, or two reasons about it
            c = Concept(c.kind, c.system, c.code, c.display, prev.index, tuple(dict.fromkeys(prev.own + c.own)),
                        tuple(dict.fromkeys(prev.candidates + c.candidates)), prev.primary or c.primary)
        concepts[c.key] = c
    return list(concepts.values()), other


def concepts_json(concepts: list[Concept]) -> list[dict]:
    return [{"kind": c.kind, "system": c.system, "code": c.code, "index": c.index, "own": list(c.own),
             "candidates": list(c.candidates), "primary": c.primary} for c in concepts]


def concepts_from_json(rows: list[dict]) -> list[Concept]:
    return [Concept(r["kind"], r["system"], r["code"], "", int(r.get("index", 0)), tuple(r.get("own", ())),
                    tuple(r.get("candidates", ())), bool(r.get("primary"))) for r in rows]


# --- what a resolution decided per concept ----------------------------------------------------


def _attribute(concepts: list[Concept], before: list[str], after: list[str], candidate_of) -> dict[str, list[str]] | None:
    """Tokens of ``after`` per concept key, or None when an added token cannot be attributed."""
    if not concepts:
        return {}
    added = [t for t in after if t not in before]
    out = {c.key: [t for t in c.own if t in after] for c in concepts}
    for t in added:
        if len(concepts) == 1:
            out[concepts[0].key].append(t)
            continue
        owners = [c for c in concepts if candidate_of(t) in c.candidates]
        if len(owners) != 1:
            return None
        out[owners[0].key].append(t)
    return out


def decisions(concepts: list[Concept], res: CodingResolution) -> dict[str, str]:
    """Concept key -> decision key for an applied accept/edit resolution (see the module doc)."""
    if res.action is ResolutionAction.QUERY_PROVIDER:
        return {}
    out: dict[str, str] = {}
    dx_c = [c for c in concepts if c.kind == "dx"]
    before_dx = [normalize_dx(d.code) for d in res.before_diagnoses]
    after_dx = [normalize_dx(d.code) for d in res.diagnoses]
    got = _attribute(dx_c, before_dx, after_dx, lambda t: t)
    if got is not None:
        out.update({k: decision_key(v) for k, v in got.items()})
    px_c = [c for c in concepts if c.kind == "px"]
    before_px = [line_token(ln.code, ln.modifiers, ln.units) for ln in res.before_service_lines]
    after_px = [line_token(ln.code, ln.modifiers, ln.units) for ln in res.service_lines
                if ln.code.strip().upper() not in VISIT_CODES]
    got = _attribute(px_c, before_px, after_px, lambda t: parse_line_token(t)[0])
    if got is not None:
        out.update({k: decision_key(v) for k, v in got.items()})
    return out


# --- the learned mapping ----------------------------------------------------------------------


class LearnedStore:
    """The learned mapping over any mutable mapping (a dict in the evaluation, the coder's
    changelog-backed Faust table in the service). Entries are kept per source partition
    (key ``<partition>/<concept key>``, value ``{"counts": {decision: n}, "seen": [ids]}``)
    so each changelog partition has one writer; ``counts`` merges the parts."""

    def __init__(self, table: MutableMapping, partitions: int = 1):
        self.table = table
        self.partitions = partitions

    @staticmethod
    def _key(partition: int, concept_key: str) -> str:
        return f"{partition}/{concept_key}"

    def record(self, partition: int, concept_key: str, resolution_id: str, decision: str) -> bool:
        """Count one decision (False when this resolution was counted already)."""
        key = self._key(partition, concept_key)
        entry = self.table.get(key) or {}
        seen = list(entry.get("seen", []))
        if resolution_id in seen:
            return False
        counts = dict(entry.get("counts", {}))
        counts[decision] = int(counts.get(decision, 0)) + 1
        self.table[key] = {"counts": counts, "seen": (seen + [resolution_id])[-SEEN_KEEP:]}
        return True

    def counts(self, concept_key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in range(self.partitions):
            entry = self.table.get(self._key(p, concept_key))
            for d, n in (entry or {}).get("counts", {}).items():
                out[d] = out.get(d, 0) + int(n)
        return out

    def learn(self, partition: int, concepts: list[Concept], res: CodingResolution) -> dict[str, str]:
        """Record the decisions of one applied resolution; returns them."""
        made = decisions(concepts, res)
        for key, decision in made.items():
            self.record(partition, key, res.resolution_id, decision)
        return made


@dataclass(frozen=True)
class Verdict:
    state: str  # "learned" | "conflict" | "learning" | "unknown"
    decision: str = ""
    n: int = 0
    message: str = ""


def verdict(concept: Concept, counts: dict[str, int], k: int) -> Verdict:
    live = {d: n for d, n in counts.items() if n > 0}
    if not live:
        return Verdict("unknown")
    if len(live) > 1:
        parts = ", ".join(f"{n} chose {decision_words(d)}" for d, n in sorted(live.items(), key=lambda x: (-x[1], x[0])))
        return Verdict("conflict", n=sum(live.values()),
                       message=f"coders disagreed about {concept.words()}{' (' + concept.display + ')' if concept.display else ''}: "
                               f"{parts}; a person decides until they agree")
    (d, n), = live.items()
    if k > 0 and n >= k:
        return Verdict("learned", d, n)
    return Verdict("learning", d, n)


def note(n: int) -> str:
    return f"learned from {n} coder decision{'s' if n != 1 else ''}"


# --- coding with what was learned -------------------------------------------------------------


@dataclass(frozen=True)
class LearnedResult:
    coded: CodedEncounter | None
    review: CodingReviewItem | None
    concepts: list[Concept]


def apply(ref: CodingReference, enc: EncounterEvent, review: CodingReviewItem, counts: Callable[[str], dict[str, int]],
          k: int, now: datetime) -> LearnedResult:
    """The coder's review item after learning: coded (every reason settled by a learned
    decision whose codes pass the checks for the date of service) or still in review."""
    concepts, other = review_concepts(enc, review)
    if k <= 0 or not concepts:
        return LearnedResult(None, review, concepts)
    verdicts = {c.key: verdict(c, counts(c.key), k) for c in concepts}
    conflicts = [_r("LEARNED_DISAGREEMENT", v.message, _subject(c)) for c in concepts if (v := verdicts[c.key]).state == "conflict"]
    if conflicts or other or any(v.state != "learned" for v in verdicts.values()):
        if not conflicts:
            return LearnedResult(None, review, concepts)
        return LearnedResult(None, review.model_copy(update={"reasons": list(review.reasons) + conflicts}), concepts)

    # every reason is a concept with a learned decision: build the coding
    own = {t for c in concepts for t in c.own}
    dx: list[tuple[str, CodedDiagnosis | None, Concept | None]] = [(d.code, d, None) for d in review.proposed_diagnoses
                                                                 if d.code not in own]
    old_seq = {d.sequence: i for i, (_, d, _) in enumerate(dx)}
    learned_px: list[tuple[str, Concept]] = []
    for c in concepts:
        tokens = [t for t in verdicts[c.key].decision.split(" ") if t]
        if c.kind == "dx":
            for t in tokens:
                if any(code == t for code, _, _ in dx):
                    continue
                at = len(dx)
                if c.primary:
                    at = 1 if dx and dx[0][0].startswith("Z00") else 0
                dx.insert(at, (t, None, c))
                old_seq = {s: (i + 1 if i >= at else i) for s, i in old_seq.items()}
        else:
            learned_px += [(t, c) for t in tokens]
    n_dx = len(dx)
    lines: list[CodedServiceLine] = []
    for ln in review.proposed_service_lines:
        if ln.code in VISIT_CODES:
            ptrs = list(range(1, min(n_dx, MAX_POINTERS) + 1))
        else:
            ptrs = [old_seq[p] + 1 for p in ln.diagnosis_pointers if p in old_seq] or [1]
        lines.append(ln.model_copy(update={"diagnosis_pointers": ptrs[:MAX_POINTERS]}))
    reasons: list[ReviewReason] = []
    have = {line_token(ln.code, ln.modifiers, ln.units) for ln in lines}
    for t, c in learned_px:
        if t in have:
            continue
        code, mods, units = parse_line_token(t)
        px = enc.procedures[c.index] if c.index < len(enc.procedures) else None
        if px is not None and px.charge is not None and px.code and px.code.strip().upper() == code:
            charge, source = px.charge * units, ChargeSource.DOCUMENTED
        else:
            fee = ref.fee(code, list(mods))
            if fee is None:
                reasons.append(_r("CHARGE_MISSING", f"learned code {code} for {c.words()} has no documented charge and no fee schedule row",
                                  _subject(c)))
                fee = Decimal("0.00")
            charge, source = fee * units, ChargeSource.FEE_SCHEDULE
        lines.append(CodedServiceLine(
            line_number=len(lines) + 1, code=code, code_type=code_type_of(code), modifiers=list(mods), units=units,
            charge=charge.quantize(Decimal("0.01")), charge_source=source,
            diagnosis_pointers=list(range(1, min(n_dx, MAX_POINTERS) + 1)) or [1], provenance=Provenance.LEARNED,
            confidence=LEARNED_CONFIDENCE, rule_id=LEARNED_RULE_ID,
            code_set_version=f"{PROC_REF_VERSION} {ref.versions.get('procedures', '')}".strip(),
            provenance_note=f"{note(verdicts[c.key].n)} ({c.words()})"))
    checked = check_human_codes(ref, enc.date_of_service, [code for code, _, _ in dx],
                                [DraftLine(ln.code, tuple(ln.modifiers), ln.units, tuple(ln.diagnosis_pointers)) for ln in lines])
    if not checked.ok or reasons:
        learned_words = "; ".join(f"{c.words()} -> {decision_words(verdicts[c.key].decision)}" for c in concepts)
        head = _r("LEARNED_CODE_INVALID", f"the codes learned from coders ({learned_words}) failed the coder's checks for the date of "
                  f"service {enc.date_of_service.isoformat()}; see the findings below")
        return LearnedResult(None, review.model_copy(update={"reasons": list(review.reasons) + [head] + checked.findings + reasons}),
                             concepts)
    version = ref.code_set_for(enc.date_of_service).version
    coded_dx = []
    for seq, (code, d, c) in enumerate(dx, start=1):
        if d is not None:
            coded_dx.append(d.model_copy(update={"sequence": seq}))
            continue
        coded_dx.append(CodedDiagnosis(sequence=seq, code=code, provenance=Provenance.LEARNED, confidence=LEARNED_CONFIDENCE,
                                       rule_id=LEARNED_RULE_ID, code_set_version=version,
                                       source_system=enc.diagnoses[c.index].system, source_code=enc.diagnoses[c.index].code,
                                       provenance_note=f"{note(verdicts[c.key].n)} ({c.words()})"))
    # a low-confidence map that coders confirmed: the learned decision now vouches for it
    for c in concepts:
        if c.kind == "dx" and c.own:
            for i, d in enumerate(coded_dx):
                if d.code in c.own and d.provenance is not Provenance.LEARNED:
                    coded_dx[i] = d.model_copy(update={"provenance": Provenance.LEARNED, "rule_id": LEARNED_RULE_ID,
                                                       "confidence": LEARNED_CONFIDENCE,
                                                       "provenance_note": f"{note(verdicts[c.key].n)} ({c.words()})"})
    confidences = [d.confidence for d in coded_dx] + [ln.confidence for ln in lines]
    return LearnedResult(CodedEncounter(
        encounter_id=enc.encounter_id, encounter_version=enc.version, coded_at=now, patient=enc.patient, coverage=enc.coverage,
        rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider, date_of_service=enc.date_of_service,
        place_of_service=enc.place_of_service, visit_type=enc.visit_type, patient_status=enc.patient_status,
        total_time_minutes=enc.total_time_minutes, mdm_level=enc.mdm_level, diagnoses=coded_dx, service_lines=lines,
        confidence=round(min(confidences), 4) if confidences else 0.0, coder_version=f"{CODER_VERSION} learned",
    ), None, concepts)


def _r(code: str, message: str, subject: str | None = None) -> ReviewReason:
    return ReviewReason(code=code, message=message, subject=subject)


def _subject(c: Concept) -> str:
    return f"{'diagnosis' if c.kind == 'dx' else 'procedure'}[{c.index}]"
