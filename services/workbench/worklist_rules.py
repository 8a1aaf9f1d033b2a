"""The denial worklist's rules (pure: no Django views, no Kafka): filters and sorting of
the worklist, and the actions a person can take from the item page, built as events.

``build_action`` turns a posted form into one ``AppealAction`` (or a clear refusal): the
actor is the logged-in user, never a form field; the action id is derived from the item,
the action and the item's state, so a double-click on "file" gives the same id (recorded
once); the adjudicator's own ``refusal`` check runs first (late filing needs a reason, a
write-off above the limit needs a supervisor), so what the page accepts the adjudicator
accepts too. ``build_outcome`` is the payer's decision entered by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import F

from claimflow.models import (
    AppealAction,
    AppealActionKind,
    AppealLevel,
    AppealOutcome,
    AppealOutcomeKind,
    FilingMethod,
    WorkItemKind,
)
from services.workbench.roles import SUPERVISOR

A = AppealActionKind
PAGE_SIZE = 50
SORTS = {  # (label, order_by)
    "priority": ("priority (highest first)", ("-priority_score", F("deadline").asc(nulls_last=True), "work_item_id")),
    "deadline": ("deadline (soonest first)", (F("deadline").asc(nulls_last=True), "-priority_score", "work_item_id")),
    "dollars": ("dollars (largest first)", ("-recoverable_amount", "-priority_score", "work_item_id")),
    "likelihood": ("likelihood (highest first)", ("-overturn_likelihood", "-priority_score", "work_item_id")),
    "age": ("age (oldest first)", ("created_at", "work_item_id")),
    "payer": ("payer", ("payer_id", "-priority_score", "work_item_id")),
}
# days-left buckets (the adjudicator's labels): inclusive ranges of days left; None = open end
BUCKETS: dict[str, tuple[int | None, int | None]] = {
    "overdue": (None, -1), "0-7": (0, 7), "8-30": (8, 30), "31-60": (31, 60), "61-120": (61, 120), "121+": (121, None),
}
KIND_ACTIONS = {  # which actions the page offers per kind (the adjudicator's refusal decides in the end)
    WorkItemKind.APPEAL.value: ("file", "withdraw", "write_off"),
    WorkItemKind.MANUAL_REVIEW.value: ("resolve", "corrected_claim_sent", "write_off"),
    WorkItemKind.CORRECTED_CLAIM.value: ("corrected_claim_sent", "withdraw", "write_off"),
    WorkItemKind.VERIFY_DUPLICATE.value: ("resolve", "write_off"),
    WorkItemKind.REBILL_OTHER_PAYER.value: ("resolve", "write_off"),
    WorkItemKind.WRITE_OFF_APPROVAL.value: ("write_off", "resolve"),
    WorkItemKind.UNDERPAYMENT.value: ("resolve", "write_off"),
}


def deadline_range(bucket: str, today: date) -> tuple[date | None, date | None] | None:
    """The deadline dates of a days-left bucket (an index range on ``deadline``); None = unknown bucket."""
    if bucket not in BUCKETS:
        return None
    lo, hi = BUCKETS[bucket]
    return (today + timedelta(days=lo) if lo is not None else None, today + timedelta(days=hi) if hi is not None else None)


def filter_worklist(qs, params, today: date):
    """Apply the page's filters (kind, payer, carc = group "CO" or code "CO-50", bucket, assignee,
    status) to a WorkItem queryset; unknown values are ignored, never an error."""
    status = params.get("status") or "active"
    qs = qs.filter(status__in=("open", "filed")) if status == "active" else qs.filter(status=status)
    if params.get("kind"):
        qs = qs.filter(kind=params["kind"])
    if params.get("payer"):
        qs = qs.filter(payer_id=params["payer"])
    carc = (params.get("carc") or "").strip().upper()
    if carc:
        group, sep, code = carc.partition("-")
        qs = qs.filter(carc_group=group, carc_code=code) if sep else (qs.filter(carc_group=carc) if carc.isalpha() else qs.filter(carc_code=carc))
    bucket = params.get("bucket") or ""
    if bucket == "none":
        qs = qs.filter(deadline__isnull=True)
    elif (rng := deadline_range(bucket, today)) is not None:
        lo, hi = rng
        if lo is not None:
            qs = qs.filter(deadline__gte=lo)
        if hi is not None:
            qs = qs.filter(deadline__lte=hi)
    assignee = params.get("assignee") or ""
    if assignee == "-":
        qs = qs.filter(assignee="")
    elif assignee:
        qs = qs.filter(assignee=assignee)
    return qs


def sort_key(params) -> str:
    s = params.get("sort") or "priority"
    return s if s in SORTS else "priority"


def days_left(deadline: date | None, today: date) -> int | None:
    return None if deadline is None else (deadline - today).days


# --- actions --------------------------------------------------------------------------------


class Refused(ValueError):
    """The action cannot be taken; the message says why (no PHI)."""


@dataclass(frozen=True)
class Actor:
    user: str
    roles: tuple[str, ...]

    @property
    def role(self) -> str:
        """The role the person acts in on denials (supervisor when they hold it)."""
        return SUPERVISOR if SUPERVISOR in self.roles else ",".join(self.roles)


def item_view(row) -> dict:
    """The adjudicator's view of an open work item (for its ``refusal`` check)."""
    return {"work_item_id": row.work_item_id, "kind": row.kind, "rule_id": row.rule_id,
            "appealable": bool(row.appeal_level) or row.kind == WorkItemKind.APPEAL.value, "denied": str(row.denied_amount),
            "deadline": row.deadline.isoformat() if row.deadline else None, "appeal_level": row.appeal_level or None,
            "level_index": row.level_index, "filings": []}


def _date(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _money(text: str | None) -> Decimal | None:
    if not (text or "").strip():
        return None
    try:
        v = Decimal(text.strip().replace("$", "").replace(",", ""))
    except InvalidOperation:
        raise Refused(f"{text!r} is not an amount") from None
    if v <= 0 or v != v.quantize(Decimal("0.01")):
        raise Refused("the amount must be positive, in dollars and cents")
    return v


def build_action(row, what: str, form: dict, actor: Actor, now: datetime, write_off_limit: Decimal,
                 packet_sha256: str | None = None) -> AppealAction:
    """One AppealAction from the item page's form (raises ``Refused`` with a clear message)."""
    from services.adjudicator.actions import action_id_for, refusal

    if row.status == "closed":
        raise Refused(f"work item {row.work_item_id} is closed ({row.closed_how.replace('_', ' ')}): nothing to do")
    base = dict(work_item_id=row.work_item_id, claim_id=row.claim_id, actor=actor.user, actor_role=actor.role, occurred_at=now,
                payer_id=row.payer_id)
    reason = (form.get("reason") or "").strip() or None
    if what == "assign":
        assignee = (form.get("assignee") or "").strip() or actor.user
        if assignee == row.assignee:
            raise Refused(f"{row.work_item_id} is already assigned to {assignee}")
        # one id per (item, assignee, previous assignee): assigning back and forth is recorded each time
        action = AppealAction(action_id=action_id_for(row.work_item_id, A.ASSIGNED, assignee, row.assignee or "-"),
                              action=A.ASSIGNED, assignee=assignee, **base)
    elif what == "file":
        if row.status == "filed":
            raise Refused(f"the appeal of {row.work_item_id} was already filed on {row.filed_on}: nothing was filed twice")
        method = form.get("method") or FilingMethod.PORTAL.value
        if method not in {m.value for m in FilingMethod}:
            raise Refused(f"unknown filing method {method!r}")
        filed_on = _date(form.get("filed_on"), now.date())
        if filed_on > now.date():
            raise Refused("the filing date is in the future")
        level = AppealLevel(row.appeal_level) if row.appeal_level else None
        action = AppealAction(
            action_id=action_id_for(row.work_item_id, A.FILED, row.level_index), action=A.FILED, filed_on=filed_on,
            filing_method=FilingMethod(method), appeal_level=level, late_reason=(form.get("late_reason") or "").strip() or None,
            packet_sha256=packet_sha256, reason_code=row.carc_code or None, appealed_amount=row.recoverable_amount, **base)
    elif what in ("withdraw", "resolve"):
        if not reason:
            raise Refused(f"{what}: write the reason first")
        kind = A.WITHDRAWN if what == "withdraw" else A.RESOLVED
        action = AppealAction(action_id=action_id_for(row.work_item_id, kind, row.level_index), action=kind, reason=reason, **base)
    elif what == "write_off":
        if not reason:
            raise Refused("write-off: write the reason first")
        amount = _money(form.get("amount"))
        approved = actor.user if actor.role == SUPERVISOR else None
        action = AppealAction(
            action_id=action_id_for(row.work_item_id, A.WRITTEN_OFF, row.level_index), action=A.WRITTEN_OFF, reason=reason,
            write_off_amount=amount, approved_by=approved, approver_role=SUPERVISOR if approved else None, **base)
    elif what == "corrected_claim_sent":
        cid = (form.get("corrected_claim_id") or "").strip() or None
        action = AppealAction(action_id=action_id_for(row.work_item_id, A.CORRECTED_CLAIM_SENT, cid or ""),
                              action=A.CORRECTED_CLAIM_SENT, corrected_claim_id=cid, reason=reason, **base)
    else:
        raise Refused(f"unknown action {what!r}")
    if row.kind == WorkItemKind.UNDERPAYMENT.value:
        if action.action not in (A.ASSIGNED, A.RESOLVED, A.WRITTEN_OFF):
            raise Refused(f"an underpayment is assigned, resolved or written off, not {action.action.value.replace('_', ' ')}")
        view = item_view(row) | {"kind": WorkItemKind.MANUAL_REVIEW.value, "appealable": False}
    else:
        view = item_view(row)
    why = refusal(view, action, write_off_limit)
    if why is not None:
        if action.action == A.WRITTEN_OFF and "supervisor" in why:
            raise Refused(f"Refused: {why.split(':')[0]}. Only a supervisor can write this off; ask a supervisor to do it.")
        raise Refused(f"Refused: {why}")
    return action


def build_outcome(row, form: dict, now: datetime) -> AppealOutcome:
    """The payer's decision entered by hand (appeals.outcomes.v1); only for a filed appeal."""
    from services.adjudicator.models import local_id

    if row.status != "filed":
        raise Refused(f"an outcome can only be entered for a filed appeal; {row.work_item_id} is {row.status}")
    kind = form.get("outcome") or ""
    if kind not in {k.value for k in AppealOutcomeKind}:
        raise Refused("pick the payer's decision (overturned, partially overturned, upheld, withdrawn)")
    recovered = _money(form.get("recovered")) or Decimal("0.00")
    if kind == AppealOutcomeKind.OVERTURNED.value and not (form.get("recovered") or "").strip():
        recovered = Decimal(row.recoverable_amount)
    if kind == AppealOutcomeKind.UPHELD.value and recovered:
        raise Refused("an upheld appeal recovers nothing")
    if recovered > Decimal(row.denied_amount):
        raise Refused(f"the recovered amount {recovered} is more than the {row.denied_amount} in dispute")
    return AppealOutcome(
        outcome_id=local_id("OUT", row.work_item_id, row.level_index, "entered"), work_item_id=row.work_item_id,
        claim_id=row.claim_id, payer_id=row.payer_id, reason_code=row.carc_code or "", appeal_level=AppealLevel(row.appeal_level),
        outcome=AppealOutcomeKind(kind), recovered_amount=recovered, decided_on=_date(form.get("decided_on"), now.date()),
        received_at=now)
