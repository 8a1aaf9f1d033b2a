"""Adjudicator domain logic (pure: no Faust, no Kafka).

A claim ledger entry per claim id (a JSON dict living in the ``adjudicator-claim-ledger``
table) and the lifecycle state machine that moves it:

    created -> held -> submitted -> acknowledged / rejected
            -> paid / partially_paid / denied -> appealed -> closed
    plus reversed (CLP02 = 22), corrected (frequency 7 replacement), voided (frequency 8)

Every function takes the current entry (or None) and one event and returns a ``Posting``:
the new entry and everything the shell must emit (status events, appeal work items,
corrections, patient bills, unmatched remittances to dead-letter) plus metric hooks.
Replays and duplicates are absorbed (adjudication ids, event ids and outcome ids are
remembered in the entry); money is Decimal, stored as strings with two places."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from claimflow.ids import status_event_id, work_item_id
from claimflow.models import (
    Adjudication,
    AdjustmentGroup,
    Claim,
    ClaimState,
    ClaimStatusChanged,
    ClaimStatusCode,
    DenialWorkItem,
    Disposition,
    HeldClaim,
    NoActionDisposition,
    WorkItemKind,
)
from services.adjudicator.appeals import (
    OverturnModel,
    Urgency,
    appeal_deadline,
    days_left,
    deadline_bucket,
    priority_score,
    DEADLINE_BUCKETS,
    NO_DEADLINE,
)
from services.adjudicator.models import AppealOutcome, AppealOutcomeKind, CorrectionRequest, PatientBill, local_id
from services.adjudicator.reference import CodeLists, PayerBook, load_code_lists, load_payer_book
from services.adjudicator.underpayments import CompareResult, compare, expected_summary
from services.adjudicator.rules import (
    CORRECTIONS,
    ClaimContext,
    Decision,
    WORK_KIND,
    decisions_for,
    evidence_for,
    no_action_why,
    disposition_for,
    primary,
    RULE_TABLE_DOC,
    RULES,
)

__all__ = [
    "SERVICE", "Policy", "Posting", "Transition", "Finding", "MetricHooks", "Decision", "ClaimContext",
    "new_entry", "load_entry", "totals", "claim_context", "resulting_state", "balance_findings",
    "apply_claim", "apply_held", "apply_status", "apply_adjudication", "apply_appeal_outcome", "expire_pending",
    "settle", "filed_at_level", "item_likelihood", "expire_outcomes", "release_outcomes", "NOT_FILED",
    "post", "disposition_for", "decisions_for", "open_work", "appeal_backlog", "RULES", "RULE_TABLE_DOC",
]

SERVICE = "adjudicator"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ENTRY_SCHEMA = 2
GROUPS = tuple(g.value for g in AdjustmentGroup)
CLP02 = ClaimStatusCode  # plain code strings below: they are compared with and stored as Adjudication.claim_status_code
DENIED_STATUS, REVERSAL_STATUS = CLP02.DENIED.value, CLP02.REVERSAL.value
NOT_OUR_CLAIM, PREDETERMINATION = CLP02.NOT_OUR_CLAIM.value, CLP02.PREDETERMINATION.value
FORWARDED = {CLP02.PRIMARY_FORWARDED.value, CLP02.SECONDARY_FORWARDED.value, CLP02.TERTIARY_FORWARDED.value}
CLP02_TEXT = {c.value: c.text for c in ClaimStatusCode}
REASON_MAX = 480

S = ClaimState
ADJUDICATED = frozenset({S.PAID, S.PARTIALLY_PAID, S.DENIED})
ANY = frozenset(S)
# Which lifecycle events (claims.v1, claims.held.v1, claims.status.v1) may move a claim.
# Adjudications always post (money is never dropped); anything else outside this table is
# stale (e.g. a late "submitted" after the remit) and is recorded but ignored.
ALLOWED: dict[ClaimState | None, frozenset[ClaimState]] = {
    None: ANY,
    S.CREATED: frozenset({S.HELD, S.SUBMITTED, S.ACKNOWLEDGED, S.REJECTED, S.CORRECTED, S.VOIDED, S.CLOSED}) | ADJUDICATED,
    S.HELD: frozenset({S.CREATED, S.SUBMITTED, S.ACKNOWLEDGED, S.REJECTED, S.CORRECTED, S.VOIDED, S.CLOSED}),
    S.SUBMITTED: frozenset({S.ACKNOWLEDGED, S.REJECTED, S.CORRECTED, S.VOIDED, S.CLOSED}) | ADJUDICATED,
    S.ACKNOWLEDGED: frozenset({S.REJECTED, S.CORRECTED, S.VOIDED, S.CLOSED}) | ADJUDICATED,
    S.REJECTED: frozenset({S.SUBMITTED, S.ACKNOWLEDGED, S.CORRECTED, S.VOIDED, S.CLOSED}),
    S.PAID: frozenset({S.APPEALED, S.CLOSED, S.CORRECTED, S.VOIDED}),
    S.PARTIALLY_PAID: frozenset({S.APPEALED, S.CLOSED, S.CORRECTED, S.VOIDED}),
    S.DENIED: frozenset({S.APPEALED, S.CLOSED, S.CORRECTED, S.VOIDED}),
    S.APPEALED: frozenset({S.CLOSED, S.CORRECTED, S.VOIDED}),
    S.REVERSED: frozenset({S.SUBMITTED, S.ACKNOWLEDGED, S.CLOSED, S.CORRECTED, S.VOIDED}),
    S.CORRECTED: frozenset({S.CLOSED}),
    S.VOIDED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset({S.APPEALED}),
}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _s(value: Decimal) -> str:
    return str(money(value))


# --- policy and results ---------------------------------------------------------------------


@dataclass
class Policy:
    """Everything configurable. ``model`` is the learned overturn state (persist
    ``model.to_dict()`` in its own table); ``require_claim`` makes an adjudication for an
    unseen claim wait in the entry's pending store for ``pending_ttl``."""

    codes: CodeLists = field(default_factory=load_code_lists)
    book: PayerBook = field(default_factory=load_payer_book)
    model: OverturnModel | None = None
    pending_ttl: timedelta = timedelta(hours=72)
    urgency: Urgency = field(default_factory=Urgency)
    require_claim: bool = True
    max_history: int = 200
    write_off_limit: Decimal = Decimal("500.00")  # above it a supervisor must approve a write-off
    # an outcome can overtake its filing (two topics): it waits this long for the filing, then
    # it is an outcome for an appeal never filed and is dead-lettered
    outcome_wait: timedelta = timedelta(hours=1)
    # chance that work which is not an appeal brings the money in (appeals use the model)
    recovery_odds: dict[WorkItemKind, float] = field(default_factory=lambda: {
        WorkItemKind.CORRECTED_CLAIM: 0.8, WorkItemKind.REBILL_OTHER_PAYER: 0.7, WorkItemKind.VERIFY_DUPLICATE: 0.05,
        WorkItemKind.MANUAL_REVIEW: 0.3, WorkItemKind.WRITE_OFF_APPROVAL: 0.0, WorkItemKind.UNDERPAYMENT: 0.6,
    })

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = OverturnModel(self.book)


@dataclass(frozen=True)
class Finding:
    """A posting finding (balancing, reversal matching, stale events). No PHI."""

    code: str
    severity: str  # error | warning | info
    message: str
    line_number: int | None = None
    delta: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "line_number": self.line_number, "delta": self.delta}


@dataclass
class MetricHooks:
    """Bounded facts for the shell's Prometheus metrics (no ids, no PHI)."""

    adjudications: list[str] = field(default_factory=list)  # resulting claim state per posted remit
    denials: list[tuple[str, str, str]] = field(default_factory=list)  # (CAS group, reason family, disposition)
    patient_shares: list[str] = field(default_factory=list)  # reason family of each patient-responsibility decision (PR)
    rules_fired: list[str] = field(default_factory=list)
    unknown_codes: int = 0
    at_risk: dict[str, Decimal] = field(default_factory=dict)  # new work items' dollars by deadline bucket
    new_work_items: int = 0
    closed_work_items: int = 0
    pending_added: int = 0
    pending_released: int = 0
    unmatched: int = 0
    out_of_balance: int = 0
    stale_events: int = 0


@dataclass
class Posting:
    entry: dict | None  # None only from expire_pending when nothing is left: delete the key
    status_events: list[ClaimStatusChanged] = field(default_factory=list)
    work_items: list[DenialWorkItem] = field(default_factory=list)
    no_action: list[NoActionDisposition] = field(default_factory=list)  # denials.no-action.v1: the recorded why
    corrections: list[CorrectionRequest] = field(default_factory=list)
    patient_bills: list[PatientBill] = field(default_factory=list)
    duplicate: bool = False
    pending: bool = False
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    unmatched: list[Adjudication] = field(default_factory=list)  # dead-letter these (stage=rules)
    unmatched_origins: list[dict | None] = field(default_factory=list)  # the ``origin`` given when each was parked
    ignored: str | None = None  # why a lifecycle event did not move the claim
    model_changed: bool = False  # persist policy.model.to_dict()
    observations: list[tuple[str, str, bool, str]] = field(default_factory=list)  # (payer, CARC, overturned, outcome id)
    rejected: str | None = None  # input refused with this message (the shell dead-letters it); entry unchanged
    expired_outcomes: list[tuple[AppealOutcome, dict | None, str]] = field(default_factory=list)  # dead-letter these
    metrics: MetricHooks = field(default_factory=MetricHooks)
    underpayments: list = field(default_factory=list)  # UnderpaymentWorkItem (appeals.underpayments.v1)
    comparisons: list = field(default_factory=list)  # CompareResult per posted remit (expected vs paid metrics)

    @property
    def out_of_balance(self) -> bool:
        return any(f.severity == "error" and f.code.startswith("BAL") for f in self.findings)


Transition = Posting


# --- the entry ------------------------------------------------------------------------------


def _zero_groups() -> dict[str, str]:
    return {g: "0.00" for g in GROUPS}


def new_entry(claim_id: str) -> dict:
    return {
        "schema": ENTRY_SCHEMA, "claim_id": claim_id, "known": False, "state": None, "claim": None, "context": {},
        "totals": {"charged": "0.00", "paid": "0.00", "patient_responsibility": "0.00", "adjusted": "0.00",
                   "adjusted_by_group": _zero_groups()},
        "postings": [], "pending": [], "events": [], "outcomes": [], "history": [], "open_items": [], "actions": [],
        "closed_items": [], "parked_outcomes": [], "out_of_balance": False,
    }


def load_entry(entry: dict | None, claim_id: str) -> dict:
    """A deep-enough copy of the stored entry (tables must never be mutated in place),
    upgrading the walking skeleton's flat entries."""
    if not entry:
        return new_entry(claim_id)
    if entry.get("schema") != ENTRY_SCHEMA:  # skeleton: flat totals, list of posted ids
        e = new_entry(entry.get("claim_id", claim_id))
        e["state"] = entry.get("state")
        e["known"] = True
        for k in ("charged", "paid", "patient_responsibility", "adjusted"):
            e["totals"][k] = _s(Decimal(entry.get(k, "0.00")))
        e["postings"] = [{"adjudication_id": a, "legacy": True} for a in entry.get("posted", [])]
        return e
    e = dict(entry)
    e["totals"] = dict(entry["totals"], adjusted_by_group=dict(entry["totals"]["adjusted_by_group"]))
    for k in ("postings", "pending", "events", "outcomes", "history", "open_items", "actions", "closed_items", "parked_outcomes"):
        e[k] = [dict(x) if isinstance(x, dict) else x for x in entry.get(k, [])]
    e["open_items"] = [dict(w, filings=[dict(f) for f in w.get("filings", [])]) for w in e["open_items"]]
    e["context"] = dict(entry.get("context") or {})
    return e


def totals(entry: dict) -> dict[str, Any]:
    """The entry's totals as Decimals: charged, paid, patient_responsibility, adjusted,
    adjusted_by_group (CO/PR/OA/PI/CR)."""
    t = entry["totals"]
    return {"charged": Decimal(t["charged"]), "paid": Decimal(t["paid"]),
            "patient_responsibility": Decimal(t["patient_responsibility"]), "adjusted": Decimal(t["adjusted"]),
            "adjusted_by_group": {g: Decimal(v) for g, v in t["adjusted_by_group"].items()}}


def claim_context(entry: dict | None) -> ClaimContext:
    return ClaimContext.from_dict((entry or {}).get("context"))


def _state(entry: dict) -> ClaimState | None:
    return ClaimState(entry["state"]) if entry.get("state") else None


def _reason(*parts: str | None) -> str:
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def _emit(res: Posting, e: dict, state: ClaimState, trigger: str, now: datetime, reason: str | None = None,
          decision: Decision | None = None, charge: Decimal | None = None, policy: Policy | None = None) -> None:
    """Move the entry to ``state`` and emit the status event (once per trigger and state)."""
    event_id = status_event_id(e["claim_id"], trigger, state.value)
    previous = _state(e)
    e["state"] = state.value
    if event_id in e["events"]:
        return
    e["events"].append(event_id)
    e["history"].append({"state": state.value, "previous": previous.value if previous else None,
                         "at": now.isoformat(), "trigger": trigger, "event_id": event_id})
    limit = policy.max_history if policy else 200
    del e["history"][: max(0, len(e["history"]) - limit)]
    res.status_events.append(ClaimStatusChanged(
        event_id=event_id, claim_id=e["claim_id"], state=state, previous_state=previous, occurred_at=now,
        source_service=SERVICE, trigger_id=trigger, reason=reason,
        disposition=decision.disposition if decision else None, rule_id=decision.rule_id if decision else None,
        charge=money(charge) if charge is not None else None, paid=money(Decimal(e["totals"]["paid"])),
    ))


def _stale(res: Posting, e: dict, target: ClaimState, marker: str) -> Posting:
    current = _state(e)
    res.ignored = f"transition {current.value if current else 'none'} -> {target.value} not allowed (stale or out of order)"
    res.findings.append(Finding("LIFE-001", "info", res.ignored))
    res.metrics.stale_events += 1
    if marker not in e["events"]:
        e["events"].append(marker)
    return res


# --- lifecycle events -----------------------------------------------------------------------


def _claim_summary(claim: Claim) -> dict[str, Any]:
    """What the ledger keeps of a claim: no patient data, only what posting needs."""
    return {"frequency_code": claim.frequency_code, "original_claim_id": claim.original_claim_id,
            "payer_id": claim.coverage.payer_id if claim.coverage else None,
            "total_charge": _s(claim.total_charge), "line_count": len(claim.lines),
            "lines": [{"line_number": l.line_number, "procedure_code": l.procedure_code, "modifiers": list(l.modifiers),
                       "units": l.units, "charge": _s(l.charge), "expected": expected_summary(l.expected_allowed)}
                      for l in claim.lines]}


def apply_claim(entry: dict | None, claim: Claim, now: datetime, policy: Policy | None = None) -> Transition:
    """claims.v1: the claim exists (state ``created``). A frequency 7/8 claim also emits
    ``corrected`` / ``voided`` for its original claim (keyed by the original's id: the
    shell routes it to claims.status.v1 and ``apply_status`` moves the original's entry).
    Adjudications that were waiting for this claim are posted now."""
    policy = policy or Policy()
    e = load_entry(entry, claim.claim_id)
    res = Posting(e)
    first_time = e["claim"] is None
    e["claim"] = _claim_summary(claim)
    e["context"] = ClaimContext.from_claim(claim).to_dict()
    e["known"] = True
    trigger = f"claim:{claim.claim_id}"
    current = _state(e)
    if current in (None, S.HELD):
        _emit(res, e, S.CREATED, trigger, now, _reason(f"claim frequency {claim.frequency_code}",
                                                         f"released from hold" if current == S.HELD else None),
              charge=claim.total_charge, policy=policy)
    elif not first_time:
        res.duplicate = True
    if first_time and claim.frequency_code in ("7", "8") and claim.original_claim_id:
        target = S.CORRECTED if claim.frequency_code == "7" else S.VOIDED
        verb = "replaced by" if target == S.CORRECTED else "voided by"
        res.status_events.append(ClaimStatusChanged(
            event_id=status_event_id(claim.original_claim_id, trigger, target.value), claim_id=claim.original_claim_id,
            state=target, previous_state=None, occurred_at=now, source_service=SERVICE, trigger_id=claim.claim_id,
            reason=f"{verb} frequency-{claim.frequency_code} claim {claim.claim_id}",
        ))
    if e["pending"]:
        _release_pending(res, e, now, policy)
    return res


def apply_held(entry: dict | None, held: HeldClaim, now: datetime, policy: Policy | None = None) -> Transition:
    """claims.held.v1: the scrubber held the claim for correction."""
    policy = policy or Policy()
    e = load_entry(entry, held.claim_id)
    res = Posting(e)
    trigger = f"held:{held.claim_id}:{held.held_at.isoformat()}"
    if status_event_id(e["claim_id"], trigger, S.HELD.value) in e["events"]:
        res.duplicate = True
        return res
    if e["claim"] is None:
        e["claim"] = _claim_summary(held.claim)
        e["context"] = ClaimContext.from_claim(held.claim).to_dict()
    e["known"] = True
    if S.HELD not in ALLOWED[_state(e)] and _state(e) != S.HELD:
        return _stale(res, e, S.HELD, status_event_id(e["claim_id"], trigger, S.HELD.value))
    families = ",".join(f.value for f in held.rule_families)
    _emit(res, e, S.HELD, trigger, now, _reason(f"held by the scrubber: {held.error_count} error finding(s)",
                                               f"families {families}" if families else None),
          charge=held.claim.total_charge, policy=policy)
    if e["pending"]:
        _release_pending(res, e, now, policy)
    return res


def apply_status(entry: dict | None, ev: ClaimStatusChanged, now: datetime, policy: Policy | None = None) -> Transition:
    """claims.status.v1 from other services (gateway submitted/acknowledged/rejected, the
    appeals desk's appealed/closed, the corrected/voided this service emits for an
    original claim). The event itself is the transition record: nothing is re-emitted.
    Our own echoes are recognised by event id and absorbed as duplicates."""
    policy = policy or Policy()
    e = load_entry(entry, ev.claim_id)
    res = Posting(e)
    if ev.event_id in e["events"]:
        res.duplicate = True
        return res
    target = ev.state
    if target not in ALLOWED[_state(e)]:
        return _stale(res, e, target, ev.event_id)
    previous = _state(e)
    e["events"].append(ev.event_id)
    e["state"] = target.value
    e["known"] = True
    e["history"].append({"state": target.value, "previous": previous.value if previous else None, "at": now.isoformat(),
                         "trigger": ev.trigger_id or ev.event_id, "event_id": ev.event_id, "source": ev.source_service})
    del e["history"][: max(0, len(e["history"]) - policy.max_history)]
    if target in (S.CLOSED, S.CORRECTED, S.VOIDED) and e["open_items"]:
        res.metrics.closed_work_items += len(e["open_items"])
        e["open_items"] = []
    if e["pending"]:
        _release_pending(res, e, now, policy)
    return res


# --- posting the 835 ------------------------------------------------------------------------


def balance_findings(adj: Adjudication) -> list[Finding]:
    """835 balancing: claim charge - all CAS (claim + line) = paid; per line charge - line
    CAS = paid; line charges add up to the claim charge; PR adjustments add up to the
    patient responsibility. Never forced: differences become findings."""
    out: list[Finding] = []
    line_cas = [a for line in adj.service_lines for a in line.adjustments]
    cas = sum((a.amount for a in adj.claim_adjustments), ZERO) + sum((a.amount for a in line_cas), ZERO)
    delta = adj.total_charge - cas - adj.paid_amount
    if delta != 0:
        out.append(Finding("BAL-001", "error", f"claim out of balance: charge {adj.total_charge} - adjustments {money(cas)} "
                                               f"!= paid {adj.paid_amount} (difference {money(delta)})", None, _s(delta)))
    for line in adj.service_lines:
        ladj = sum((a.amount for a in line.adjustments), ZERO)
        ld = line.charge - ladj - line.paid_amount
        if ld != 0:
            out.append(Finding("BAL-002", "error", f"{line.label} out of balance: charge {line.charge} - "
                                                   f"adjustments {money(ladj)} != paid {line.paid_amount} (difference {money(ld)})",
                               line.line_number, _s(ld)))
    if adj.service_lines:
        charged = sum((l.charge for l in adj.service_lines), ZERO)
        if charged != adj.total_charge:
            out.append(Finding("BAL-003", "error", f"service line charges {money(charged)} != claim charge {adj.total_charge}",
                               None, _s(adj.total_charge - charged)))
    pr = sum((a.amount for a in list(adj.claim_adjustments) + line_cas if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY), ZERO)
    if pr != adj.patient_responsibility:
        out.append(Finding("BAL-004", "warning", f"PR adjustments {money(pr)} != patient responsibility {adj.patient_responsibility}",
                           None, _s(adj.patient_responsibility - pr)))
    return out


def resulting_state(adj: Adjudication, decisions: list[Decision] | None = None) -> ClaimState | None:
    """Claim state after this remit (None: predetermination, no state change)."""
    code = adj.claim_status_code
    if code == REVERSAL_STATUS:
        return S.REVERSED
    if code == PREDETERMINATION:
        return None
    if code in (DENIED_STATUS, NOT_OUR_CLAIM) or (adj.paid_amount == ZERO and adj.patient_responsibility == ZERO):
        return S.DENIED
    if decisions is None:
        decisions = decisions_for(adj)
    # partially paid = some charge was denied and still needs work to be recovered; a fully
    # adjudicated claim (primary, secondary or tertiary) whose adjustments are contractual,
    # informational or the patient's share is paid, whatever its CLP02
    if any(d.actionable and d.amount > 0 for d in decisions):
        return S.PARTIALLY_PAID
    return S.PAID


def _group_sums(adj: Adjudication) -> dict[str, Decimal]:
    sums = {g: ZERO for g in GROUPS}
    for a in list(adj.claim_adjustments) + [a for l in adj.service_lines for a in l.adjustments]:
        sums[a.group_code.value] += a.amount
    return sums


def _add(e: dict, adj: Adjudication, groups: dict[str, Decimal]) -> None:
    t = e["totals"]
    t["charged"] = _s(Decimal(t["charged"]) + adj.total_charge)
    t["paid"] = _s(Decimal(t["paid"]) + adj.paid_amount)
    t["patient_responsibility"] = _s(Decimal(t["patient_responsibility"]) + adj.patient_responsibility)
    t["adjusted"] = _s(Decimal(t["adjusted"]) + sum(groups.values(), ZERO))
    for g, v in groups.items():
        t["adjusted_by_group"][g] = _s(Decimal(t["adjusted_by_group"].get(g, "0.00")) + v)


def _match_reversal(res: Posting, e: dict, adj: Adjudication) -> dict | None:
    """The earlier posting a CLP02=22 undoes: same payer control number, else the latest
    not-yet-reversed posting from the same payer. Mismatches become findings."""
    candidates = [p for p in e["postings"] if not p.get("legacy") and p.get("status_code") != REVERSAL_STATUS
                  and not p.get("reversed_by") and p.get("payer_id") == adj.payer_id]
    exact = [p for p in candidates if p.get("pccn") == adj.payer_claim_control_number]
    original = (exact or candidates or [None])[-1]
    if original is None:
        res.findings.append(Finding("REV-001", "error", "reversal with no earlier posting from this payer to undo: posted as received"))
        return None
    original["reversed_by"] = adj.adjudication_id
    for key, amount in (("charge", adj.total_charge), ("paid", adj.paid_amount), ("patient_responsibility", adj.patient_responsibility)):
        if Decimal(original[key]) + amount != 0:
            res.findings.append(Finding("REV-002", "error", f"reversal {key} {amount} does not negate the original {original[key]}",
                                        None, _s(Decimal(original[key]) + amount)))
    return original


def item_likelihood(policy: Policy, kind: WorkItemKind, appealable: bool, payer_id: str, carc: str | None) -> float:
    """Chance the work recovers the money: the learned overturn model for appeals (and
    appealable reviews), the configured recovery odds for every other kind."""
    if kind == WorkItemKind.APPEAL or appealable:
        return policy.model.likelihood(payer_id, carc)
    return policy.recovery_odds.get(kind, 0.0)


def _work_item(adj: Adjudication, d: Decision, now: datetime, policy: Policy, level_index: int = 0,
               from_date: date | None = None, kind: WorkItemKind | None = None, ctx: ClaimContext | None = None) -> DenialWorkItem:
    kind = kind or WORK_KIND.get(d.disposition, WorkItemKind.MANUAL_REVIEW)
    dl = appeal_deadline(policy.book, adj.payer_id, from_date or adj.remittance_date, level_index) if d.appealable else None
    p = item_likelihood(policy, kind, d.appealable, adj.payer_id, d.primary_carc)
    recoverable = ZERO if kind == WorkItemKind.WRITE_OFF_APPROVAL else money(max(d.amount, ZERO))
    lines = f" (lines {', '.join(str(n) for n in d.line_numbers)})" if d.line_numbers else ""
    rid = d.rule_id if level_index == 0 else f"{d.rule_id}/L{level_index + 1}"
    if kind == WorkItemKind.WRITE_OFF_APPROVAL and d.disposition != Disposition.WRITE_OFF:
        rid += "/WO"
    return DenialWorkItem(
        work_item_id=work_item_id(adj.adjudication_id, rid), claim_id=adj.claim_id, adjudication_id=adj.adjudication_id,
        payer_id=adj.payer_id, disposition=d.disposition, rule_id=d.rule_id, reason_codes=list(d.reason_codes) or ["CLP02-" + adj.claim_status_code],
        remark_codes=list(d.remark_codes), appeal_level=dl.level if dl else None, deadline=dl.due if dl else None,
        remittance_date=adj.remittance_date, denied_amount=money(max(d.amount, ZERO)), overturn_likelihood=round(p, 6),
        priority_score=priority_score(recoverable, p, dl.due if dl else None, now.date(), policy.urgency),
        explanation=d.explanation + lines, created_at=now, kind=kind, recoverable_amount=recoverable, level_index=level_index,
        reason_family=d.family, evidence=evidence_for(d, policy.codes, ctx),
    )


def _no_action(adj: Adjudication, d: Decision, now: datetime) -> NoActionDisposition:
    return NoActionDisposition(
        record_id=local_id("NA", adj.adjudication_id, d.rule_id, d.disposition.value), claim_id=adj.claim_id,
        adjudication_id=adj.adjudication_id, payer_id=adj.payer_id, disposition=d.disposition, rule_id=d.rule_id,
        reason_codes=list(d.reason_codes) or ["CLP02-" + adj.claim_status_code], remark_codes=list(d.remark_codes),
        line_numbers=list(d.line_numbers), amount=money(d.amount), reason_family=d.family, why=no_action_why(d), decided_at=now,
    )


def _correction(adj: Adjudication, d: Decision, now: datetime) -> CorrectionRequest:
    freq = "7" if d.disposition == Disposition.CORRECTED_CLAIM_WITH_MODIFIER else "1"
    return CorrectionRequest(
        correction_id=local_id("CR", adj.adjudication_id, d.rule_id), claim_id=adj.claim_id, adjudication_id=adj.adjudication_id,
        payer_id=adj.payer_id, disposition=d.disposition, rule_id=d.rule_id, line_numbers=list(d.line_numbers),
        reason_codes=list(d.reason_codes), remark_codes=list(d.remark_codes), frequency_code=freq,
        suggested_modifiers=list(d.suggested_modifiers), amount=money(d.amount), explanation=d.explanation, created_at=now,
    )


def _patient_bill(adj: Adjudication, now: datetime) -> PatientBill | None:
    if adj.patient_responsibility == ZERO:
        return None
    parts = {"1": ZERO, "2": ZERO, "3": ZERO}
    other = ZERO
    for a in list(adj.claim_adjustments) + [a for l in adj.service_lines for a in l.adjustments]:
        if a.group_code == AdjustmentGroup.PATIENT_RESPONSIBILITY:
            if a.reason_code in parts:
                parts[a.reason_code] += a.amount
            else:
                other += a.amount
    rule = "DEN-020" if adj.claim_status_code == REVERSAL_STATUS else "DEN-003"
    return PatientBill(
        bill_id=local_id("PB", adj.adjudication_id), claim_id=adj.claim_id, adjudication_id=adj.adjudication_id,
        payer_id=adj.payer_id, rule_id=rule, amount=adj.patient_responsibility, deductible=money(parts["1"]),
        coinsurance=money(parts["2"]), copay=money(parts["3"]), other=money(other), remittance_date=adj.remittance_date,
        created_at=now,
    )


def _post(res: Posting, e: dict, adj: Adjudication, now: datetime, policy: Policy) -> None:
    start = len(res.findings)
    findings = balance_findings(adj)
    res.findings.extend(findings)
    ctx = claim_context(e)
    if ctx.payer_id is None:
        ctx = ClaimContext.from_dict(dict(ctx.to_dict(), payer_id=adj.payer_id))
    decisions = decisions_for(adj, ctx, policy.codes)
    res.decisions.extend(decisions)
    if adj.claim_status_code == REVERSAL_STATUS:
        original = _match_reversal(res, e, adj)
        if original is not None and e["open_items"]:
            closing = [w for w in e["open_items"] if w.get("adjudication_id") == original["adjudication_id"]]
            res.metrics.closed_work_items += len(closing)
            e["open_items"] = [w for w in e["open_items"] if w not in closing]
    groups = _group_sums(adj)
    if adj.claim_status_code != PREDETERMINATION:
        _add(e, adj, groups)
    lead = primary(decisions)
    state = resulting_state(adj, decisions)
    out_of_balance = any(f.severity == "error" and f.code.startswith("BAL") for f in findings)
    e["out_of_balance"] = e["out_of_balance"] or out_of_balance
    e["postings"].append({
        "adjudication_id": adj.adjudication_id, "payer_id": adj.payer_id, "pccn": adj.payer_claim_control_number,
        "status_code": adj.claim_status_code, "remittance_date": adj.remittance_date.isoformat(), "posted_at": now.isoformat(),
        "charge": _s(adj.total_charge), "paid": _s(adj.paid_amount), "patient_responsibility": _s(adj.patient_responsibility),
        "adjusted_by_group": {g: _s(v) for g, v in groups.items() if v != 0}, "state": state.value if state else None,
        "rule_id": lead.rule_id if lead else None, "disposition": lead.disposition.value if lead else None,
        "out_of_balance": out_of_balance, "findings": [f.code for f in res.findings[start:]],
        "reversed_by": None,
    })
    # status event: every rule that fired and every balancing problem, without PHI
    fired = ", ".join(f"{d.rule_id} {d.disposition.value} {'/'.join(d.reason_codes)}".strip() for d in decisions)
    problems = "; ".join(f"{f.code} {f.message}" for f in res.findings if f.severity == "error")
    reason = _reason(f"CLP02={adj.claim_status_code} {CLP02_TEXT.get(adj.claim_status_code, '')}".strip(),
                     f"rules: {fired}" if fired else None,
                     f"OUT OF BALANCE: {problems}" if out_of_balance else (problems or None))
    if state is not None:
        _emit(res, e, state, adj.adjudication_id, now, reason, lead, adj.total_charge, policy)
        res.metrics.adjudications.append(state.value)
    else:
        res.metrics.adjudications.append("predetermination")
    res.metrics.out_of_balance += int(out_of_balance)
    for d in decisions:
        res.metrics.rules_fired.append(d.rule_id)
        res.metrics.unknown_codes += len(d.unknown_codes)
        if d.disposition == Disposition.BILL_PATIENT:  # the patient's share is not a denial
            res.metrics.patient_shares.append(d.family)
        elif d.actionable:
            group = d.reason_codes[0].split("-", 1)[0] if d.reason_codes else "CLP02"
            res.metrics.denials.append((group, d.family, d.disposition.value))
    _compare_expected(res, e, adj, now)
    if adj.claim_status_code in (REVERSAL_STATUS, PREDETERMINATION):
        res.no_action.extend(_no_action(adj, d, now) for d in decisions)
        bill = _patient_bill(adj, now) if adj.claim_status_code == REVERSAL_STATUS else None
        if bill:
            res.patient_bills.append(bill)
        return
    # every decision ends in exactly one place: a work item for a person, or a no-action record
    for d in decisions:
        if d.disposition in CORRECTIONS:
            res.corrections.append(_correction(adj, d, now))
        kind = WORK_KIND.get(d.disposition)
        if kind is None:
            res.no_action.append(_no_action(adj, d, now))
            continue
        item = _work_item(adj, d, now, policy, kind=kind, ctx=ctx)
        res.work_items.append(item)
        _track(res, e, item, d, 0, now)
    bill = _patient_bill(adj, now)
    if bill:
        res.patient_bills.append(bill)


def _track(res: Posting, e: dict, item: DenialWorkItem, d: Decision, level_index: int, now: datetime) -> None:
    if any(w["work_item_id"] == item.work_item_id for w in e["open_items"]):
        return
    e["open_items"].append({"work_item_id": item.work_item_id, "adjudication_id": item.adjudication_id,
                            "payer_id": item.payer_id, "rule_id": d.rule_id, "carc": d.primary_carc,
                            "disposition": d.disposition.value, "reason_codes": list(d.reason_codes),
                            "remark_codes": list(d.remark_codes), "line_numbers": list(d.line_numbers),
                            "denied": _s(item.denied_amount), "deadline": item.deadline.isoformat() if item.deadline else None,
                            "level_index": level_index, "explanation": d.explanation, "kind": item.kind.value,
                            "appealable": d.appealable, "family": d.family, "recoverable": _s(item.recoverable_amount or ZERO),
                            "appeal_level": item.appeal_level.value if item.appeal_level else None,
                            "remittance_date": item.remittance_date.isoformat(), "assignee": None, "status": "open", "filings": []})
    bucket = deadline_bucket(days_left(item.deadline, now.date()))
    res.metrics.at_risk[bucket] = res.metrics.at_risk.get(bucket, ZERO) + item.denied_amount
    res.metrics.new_work_items += 1


def _posted_ids(e: dict) -> set[str]:
    return {p["adjudication_id"] for p in e["postings"]} | {p["adjudication"]["adjudication_id"] for p in e["pending"]}


def _release_pending(res: Posting, e: dict, now: datetime, policy: Policy) -> None:
    waiting, e["pending"] = e["pending"], []
    for item in waiting:
        adj = Adjudication.model_validate(item["adjudication"])
        if datetime.fromisoformat(item["expires_at"]) <= now:
            res.unmatched.append(adj)
            res.unmatched_origins.append(item.get("origin"))
            res.metrics.unmatched += 1
            continue
        res.metrics.pending_released += 1
        _post(res, e, adj, now, policy)


def expire_pending(entry: dict | None, now: datetime) -> Posting:
    """Sweep: adjudications that waited longer than their TTL for a claim that never
    came are returned in ``.unmatched`` (dead-letter them). ``.entry`` is None when the
    entry only held pending remits: delete the table key."""
    if not entry:
        return Posting(None)
    e = load_entry(entry, entry.get("claim_id", ""))
    res = Posting(e)
    keep = []
    for item in e["pending"]:
        if datetime.fromisoformat(item["expires_at"]) <= now:
            res.unmatched.append(Adjudication.model_validate(item["adjudication"]))
            res.unmatched_origins.append(item.get("origin"))
        else:
            keep.append(item)
    e["pending"] = keep
    res.metrics.unmatched = len(res.unmatched)
    if not keep and not e["known"] and not e["postings"]:
        res.entry = None
    return res


def apply_adjudication(entry: dict | None, adj: Adjudication, now: datetime, policy: Policy | None = None,
                       origin: dict | None = None) -> Posting:
    """adjudications.v1: post the remit (once per adjudication id). With
    ``policy.require_claim`` an adjudication for a claim not seen yet waits (``.pending``)
    until the claim arrives or ``policy.pending_ttl`` passes (then ``.unmatched``, with
    the JSON ``origin`` given here, e.g. topic/partition/offset, for the DLQ headers)."""
    policy = policy or Policy()
    e = load_entry(entry, adj.claim_id)
    res = Posting(e)
    expired = expire_pending(e, now)
    if expired.unmatched:
        res.unmatched, e["pending"] = expired.unmatched, expired.entry["pending"] if expired.entry else []
        res.unmatched_origins = expired.unmatched_origins
        res.metrics.unmatched = len(expired.unmatched)
    if adj.adjudication_id in _posted_ids(e):
        res.duplicate = True
        return res
    if policy.require_claim and not e["known"]:
        e["pending"].append({"adjudication": adj.model_dump(mode="json"), "received_at": now.isoformat(),
                             "expires_at": (now + policy.pending_ttl).isoformat(), "origin": origin})
        res.pending = True
        res.metrics.pending_added += 1
        return res
    _post(res, e, adj, now, policy)
    return res


def post(entry: dict | None, adj: Adjudication, now: datetime, policy: Policy | None = None) -> Posting:
    """The walking skeleton's entry point, same meaning: post even without a known claim."""
    policy = policy or Policy()
    if policy.require_claim:
        policy = Policy(policy.codes, policy.book, policy.model, policy.pending_ttl, policy.urgency, False, policy.max_history)
    return apply_adjudication(entry, adj, now, policy)


# --- appeal outcomes ------------------------------------------------------------------------


def filed_at_level(item: dict) -> dict | None:
    """The filing of this work item at its current level, if one was recorded."""
    return next((f for f in item.get("filings", []) if int(f["level_index"]) == int(item.get("level_index", 0))), None)


def settle(res: Posting, e: dict, item: dict, state: ClaimState, trigger: str, now: datetime, reason: str,
           policy: Policy, how: str) -> None:
    """Close one work item (kept in ``closed_items`` with how it ended) and move the claim to
    ``state`` once no other work item is open on it."""
    e["open_items"] = [w for w in e["open_items"] if w["work_item_id"] != item["work_item_id"]]
    e["closed_items"].append({"work_item_id": item["work_item_id"], "kind": item.get("kind"), "how": how, "at": now.isoformat()})
    res.metrics.closed_work_items += 1
    if not e["open_items"]:
        _emit(res, e, state, trigger, now, _reason(reason), policy=policy)


def _next_item(res: Posting, e: dict, item: dict, outcome: AppealOutcome, now: datetime, policy: Policy,
               level_index: int, kind: WorkItemKind, why: str) -> DenialWorkItem:
    d = Decision(item["rule_id"], Disposition(item["disposition"]), kind != WorkItemKind.WRITE_OFF_APPROVAL,
                 _reason(item["explanation"], why), tuple(item["reason_codes"]), tuple(item["remark_codes"]),
                 tuple(item["line_numbers"]), Decimal(item["denied"]), item.get("family") or "unknown")
    stub = _AdjStub(item["adjudication_id"], outcome.claim_id, outcome.payer_id,
                    date.fromisoformat(item["remittance_date"]) if item.get("remittance_date") else outcome.decided_on)
    wi = _work_item(stub, d, now, policy, level_index, outcome.decided_on, kind=kind)  # type: ignore[arg-type]
    res.work_items.append(wi)
    _track(res, e, wi, d, level_index, now)
    return wi


NOT_FILED = "no appeal was filed for it"


def expire_outcomes(e: dict, now: datetime) -> list[tuple[AppealOutcome, dict | None, str]]:
    """Remove parked outcomes whose filing never came; returns them with their origin and the
    dead-letter message."""
    out, keep = [], []
    for p in e.get("parked_outcomes", []):
        if datetime.fromisoformat(p["expires_at"]) <= now:
            o = AppealOutcome.model_validate(p["outcome"])
            out.append((o, p.get("origin"), f"appeal outcome {o.outcome_id} for work item {o.work_item_id}: {NOT_FILED} "
                                            f"(waited until {p['expires_at']})"))
        else:
            keep.append(p)
    e["parked_outcomes"] = keep
    return out


def release_outcomes(res: Posting, e: dict, work_item_id: str, now: datetime, policy: Policy) -> None:
    """A filing arrived: apply the outcomes for its work item that overtook it."""
    waiting = [p for p in e.get("parked_outcomes", []) if p["outcome"]["work_item_id"] == work_item_id]
    e["parked_outcomes"] = [p for p in e.get("parked_outcomes", []) if p not in waiting]
    for p in waiting:
        sub = apply_appeal_outcome(e, AppealOutcome.model_validate(p["outcome"]), now, policy, origin=p.get("origin"))
        if sub.rejected or sub.entry is None:
            continue
        e.clear()
        e.update(sub.entry)
        res.status_events += sub.status_events
        res.work_items += sub.work_items
        res.observations += sub.observations
        res.model_changed = res.model_changed or sub.model_changed
        res.metrics.closed_work_items += sub.metrics.closed_work_items
        res.metrics.new_work_items += sub.metrics.new_work_items


def apply_appeal_outcome(entry: dict | None, outcome: AppealOutcome, now: datetime, policy: Policy | None = None,
                         origin: dict | None = None) -> Posting:
    """appeals.outcomes.v1: the payer decided a filed appeal. An outcome for an open work item
    not filed (yet) at its current level waits up to ``policy.outcome_wait`` for the filing
    (it can overtake it: two topics); then, like an outcome for a work item that is not open,
    it is refused (``.rejected`` / ``.expired_outcomes``: dead-letter it). The
    overturn model learns (``.observations``; withdrawn teaches nothing); overturned or
    partially overturned -> the item closes and the claim is ``closed``; upheld -> the next
    level opens as a new work item with its own deadline (claim back to ``denied``), or, at
    the end of the payer's ladder, a write-off that needs approval."""
    policy = policy or Policy()
    e = load_entry(entry, outcome.claim_id)
    res = Posting(e)
    if outcome.outcome_id in e["outcomes"]:
        res.duplicate = True
        return res
    res.expired_outcomes = expire_outcomes(e, now)
    item = next((w for w in e["open_items"] if w["work_item_id"] == outcome.work_item_id), None)
    filing = filed_at_level(item) if item is not None else None
    if item is None:
        res.rejected = (f"appeal outcome {outcome.outcome_id} for work item {outcome.work_item_id}: {NOT_FILED} "
                        "(no open work item with this id on the claim)")
        res.entry = entry
        return res
    if filing is None:
        if not any(p["outcome"]["outcome_id"] == outcome.outcome_id for p in e["parked_outcomes"]):
            e["parked_outcomes"].append({"outcome": outcome.model_dump(mode="json"), "origin": origin,
                                         "expires_at": (now + policy.outcome_wait).isoformat()})
        res.pending = True
        return res
    e["outcomes"].append(outcome.outcome_id)
    kind = outcome.outcome
    if kind != AppealOutcomeKind.WITHDRAWN:
        won = kind in (AppealOutcomeKind.OVERTURNED, AppealOutcomeKind.PARTIALLY_OVERTURNED)
        carc = outcome.reason_code or item.get("carc") or ""
        res.model_changed = policy.model.observe(outcome.payer_id, carc, won, outcome_id=outcome.outcome_id)
        if res.model_changed:
            res.observations.append((outcome.payer_id, carc, won, outcome.outcome_id))
    trigger = f"outcome:{outcome.outcome_id}"
    label = f"appeal {kind.value} at {outcome.appeal_level.value}"
    if kind in (AppealOutcomeKind.OVERTURNED, AppealOutcomeKind.PARTIALLY_OVERTURNED):
        rest = Decimal(item["denied"]) - outcome.recovered_amount
        settle(res, e, item, S.CLOSED, trigger, now, _reason(label, f"recovered {money(outcome.recovered_amount)}",
                                                             f"not recovered {money(max(rest, ZERO))}" if rest > 0 else None),
               policy, kind.value)
        return res
    if kind == AppealOutcomeKind.WITHDRAWN:
        settle(res, e, item, S.CLOSED, trigger, now, _reason(label, "withdrawn: close"), policy, kind.value)
        return res
    # upheld: the next level of the payer's ladder, or a write-off to approve at its end
    e["open_items"] = [w for w in e["open_items"] if w["work_item_id"] != item["work_item_id"]]
    e["closed_items"].append({"work_item_id": item["work_item_id"], "kind": item.get("kind"), "how": "upheld", "at": now.isoformat()})
    res.metrics.closed_work_items += 1
    level_index = int(item.get("level_index", 0)) + 1
    if appeal_deadline(policy.book, outcome.payer_id, outcome.decided_on, level_index) is not None:
        wi = _next_item(res, e, item, outcome, now, policy, level_index, WorkItemKind.APPEAL, "previous level upheld, escalate")
        why = f"next level {wi.appeal_level.value if wi.appeal_level else '-'} due {wi.deadline}"
    else:
        wi = _next_item(res, e, item, outcome, now, policy, level_index - 1, WorkItemKind.WRITE_OFF_APPROVAL,
                        "upheld at the last appeal level: write-off needs approval")
        why = "no further appeal level: write-off needs approval"
    _emit(res, e, S.DENIED, trigger, now, _reason(label, why), policy=policy)
    return res


@dataclass(frozen=True)
class _AdjStub:
    """The few adjudication fields a next-level work item needs."""

    adjudication_id: str
    claim_id: str
    payer_id: str
    remittance_date: date
    claim_status_code: str = DENIED_STATUS


# --- queue views for metrics ------------------------------------------------------------------


def open_work(entries: Iterable[dict]) -> list[dict]:
    """Open work items across ledger entries (for the backlog gauges)."""
    return [w for e in entries if e for w in e.get("open_items", [])]


def appeal_backlog(entries: Iterable[dict], today: date) -> dict[str, Any]:
    """Backlog gauges: open item count, dollars at risk by days-to-deadline bucket, and
    adjudications still waiting for their claim."""
    buckets = {label: ZERO for label, _ in DEADLINE_BUCKETS} | {NO_DEADLINE: ZERO}
    count = pending = 0
    for e in entries:
        if not e:
            continue
        pending += len(e.get("pending", []))
        count += _add_open_items(e, buckets, today)
    return {"open_items": count, "dollars_at_risk": buckets, "pending_remittances": pending}


def _add_open_items(entry: dict, buckets: dict[str, Decimal], today: date) -> int:
    """Add one ledger entry's open work items' denied dollars to the days-to-deadline
    buckets; the number of open items it has."""
    items = entry.get("open_items", [])
    for w in items:
        dl = date.fromisoformat(w["deadline"]) if w.get("deadline") else None
        buckets[deadline_bucket(days_left(dl, today))] += Decimal(w["denied"])
    return len(items)


# --- expected reimbursement -----------------------------------------------------------------


def _compare_expected(res: Posting, e: dict, adj: Adjudication, now: datetime) -> None:
    """Compare the remit's allowed amounts with the claim's expectations (see
    services/adjudicator/underpayments.py); a reversal closes the items of what it reverses."""
    open_up = [dict(u) for u in e.get("open_underpayments", [])]  # copy: the stored entry is never mutated in place
    e["open_underpayments"] = open_up
    if adj.claim_status_code == REVERSAL_STATUS:
        reversed_ids = {p["adjudication_id"] for p in e["postings"] if p.get("reversed_by") == adj.adjudication_id}
        e["open_underpayments"] = [u for u in open_up if u["adjudication_id"] not in reversed_ids]
        return
    result: CompareResult = compare(adj, e.get("claim"), now)
    res.comparisons.append(result)
    for item in result.items:
        if any(u["work_item_id"] == item.work_item_id for u in open_up):
            continue
        res.underpayments.append(item)
        open_up.append({"work_item_id": item.work_item_id, "adjudication_id": item.adjudication_id, "payer_id": item.payer_id,
                        "kind": item.kind.value, "line_number": item.line_number, "recoverable": _s(item.recoverable_amount)})


def underpayment_backlog(entries: Iterable[dict]) -> dict[str, dict[str, Decimal]]:
    """Open underpayment dollars by payer and kind over ledger entries (the sweep's gauge)."""
    out: dict[str, dict[str, Decimal]] = {}
    for entry in entries:
        for u in (entry or {}).get("open_underpayments", []):
            per = out.setdefault(u["payer_id"], {})
            per[u["kind"]] = per.get(u["kind"], ZERO) + Decimal(u["recoverable"])
    return out


@dataclass
class SweepScan:
    """What one pass of the sweep over the ledger found: the backlog gauges and the few
    entries that have something to expire (remittances waiting for their claim, outcomes
    waiting for their filing). Nothing else is kept."""

    backlog: dict[str, Any]
    open_underpayments: dict[str, dict[str, Decimal]]
    due: list[dict]
    scanned: int = 0


def sweep_scan(entries: Iterable[dict | None], today: date) -> SweepScan:
    """One pass over ``entries`` (an iterator over the table, decoded one entry at a time):
    the same figures as appeal_backlog and underpayment_backlog, without holding every
    ledger entry in memory at once. The sweep used to build a list of all of them every
    30 s; a decoded entry is ~10 KB of Python objects (1.8 KB of JSON), so at 100,000
    claims each sweep allocated ~1 GB and the adjudicator's RSS grew with the ledger."""
    buckets = {label: ZERO for label, _ in DEADLINE_BUCKETS} | {NO_DEADLINE: ZERO}
    count = pending = scanned = 0
    underpaid: dict[str, dict[str, Decimal]] = {}
    due: list[dict] = []
    for e in entries:
        scanned += 1
        if not e:
            continue
        pending += len(e.get("pending", []))
        count += _add_open_items(e, buckets, today)
        for u in e.get("open_underpayments", []):
            per = underpaid.setdefault(u["payer_id"], {})
            per[u["kind"]] = per.get(u["kind"], ZERO) + Decimal(u["recoverable"])
        if e.get("pending") or e.get("parked_outcomes"):
            due.append(e)
    return SweepScan({"open_items": count, "dollars_at_risk": buckets, "pending_remittances": pending}, underpaid, due, scanned)
