"""People's actions on denial work items (pure: no Faust, no Kafka).

An ``AppealAction`` (appeals.actions.v1) is a person's decision, recorded once by its
``action_id``: assigned, filed (date, method, level), withdrawn, written off (reason and,
above the configured limit, a supervisor's approval), corrected claim sent, resolved
(duplicate verified, rebilled to the right payer, reviewed). ``apply_action`` moves the
claim ledger entry; ``refusal`` is the same check the workbench runs before publishing,
so a refused action never changes the ledger (the shell dead-letters it with the message).

    filed               -> claim ``appealed`` (a filing after the deadline needs a recorded
                           reason and is flagged ``late``); a second filing of the same item
                           at the same level is a duplicate, whatever its action id
    withdrawn/resolved  -> item closed; claim ``closed`` once nothing is open on it
    written_off         -> item closed; claim ``closed``
    corrected_claim_sent-> item closed; claim ``corrected``
    assigned            -> the item's assignee; no state change
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from claimflow.models import AppealAction, AppealActionKind, ClaimState, WorkItemKind
from services.adjudicator.logic import Policy, Posting, _emit, _reason, filed_at_level, load_entry, money, release_outcomes, settle

SUPERVISOR = "supervisor"
A = AppealActionKind
FILABLE = frozenset({WorkItemKind.APPEAL.value, WorkItemKind.MANUAL_REVIEW.value})
CLOSES = {A.WITHDRAWN: (ClaimState.CLOSED, "withdrawn"), A.RESOLVED: (ClaimState.CLOSED, "resolved"),
          A.WRITTEN_OFF: (ClaimState.CLOSED, "written off"), A.CORRECTED_CLAIM_SENT: (ClaimState.CORRECTED, "corrected claim sent")}


def write_off_amount(item: dict, action: AppealAction) -> Decimal:
    return money(action.write_off_amount if action.write_off_amount is not None else Decimal(item["denied"]))


def is_late(item: dict, filed_on: date) -> bool:
    return bool(item.get("deadline")) and filed_on > date.fromisoformat(item["deadline"])


def refusal(item: dict | None, action: AppealAction, write_off_limit: Decimal) -> str | None:
    """Why ``action`` cannot be applied to the open work item ``item`` (None = it can). The
    message is for the person who acted: it says what is missing, without PHI."""
    if item is None:
        return f"{action.action.value}: work item {action.work_item_id} is not open on claim {action.claim_id}"
    if action.action == A.FILED:
        if item.get("kind") not in FILABLE or not item.get("appealable", item.get("kind") == WorkItemKind.APPEAL.value):
            return f"filed: a {item.get('kind')} work item is not appealable ({item.get('rule_id')}); use the action its kind needs"
        if action.appeal_level is not None and item.get("appeal_level") and action.appeal_level.value != item["appeal_level"]:
            return f"filed: the open level is {item['appeal_level']}, not {action.appeal_level.value}"
        if is_late(item, action.filed_on) and not (action.late_reason or "").strip():
            return (f"filed on {action.filed_on} after the deadline {item['deadline']}: a late filing needs a recorded reason "
                    "(late_reason)")
    if action.action == A.WRITTEN_OFF:
        amount = write_off_amount(item, action)
        if amount > write_off_limit and not (action.approved_by and action.approver_role == SUPERVISOR):
            return (f"write-off of {amount} is above the {money(write_off_limit)} limit: a supervisor must approve it "
                    "(approved_by with approver_role supervisor)")
        if action.approved_by and action.approver_role == SUPERVISOR and action.approved_by == action.actor and amount > write_off_limit \
                and action.actor_role != SUPERVISOR:
            return "write-off: the approver must be a supervisor acting as one"
    if action.action == A.CORRECTED_CLAIM_SENT and item.get("kind") not in (WorkItemKind.CORRECTED_CLAIM.value, WorkItemKind.MANUAL_REVIEW.value):
        return f"corrected_claim_sent: a {item.get('kind')} work item is not worked by a corrected claim"
    return None


def apply_action(entry: dict | None, action: AppealAction, now: datetime, policy: Policy | None = None) -> Posting:
    """Apply one person's action to the claim's ledger entry (idempotent by action id)."""
    policy = policy or Policy()
    e = load_entry(entry, action.claim_id)
    res = Posting(e)
    if action.action_id in e["actions"]:
        res.duplicate = True
        return res
    item = next((w for w in e["open_items"] if w["work_item_id"] == action.work_item_id), None)
    under = next((u for u in e.get("open_underpayments", []) if u["work_item_id"] == action.work_item_id), None)
    if item is None and under is not None:
        return _underpayment_action(res, entry, e, under, action, policy)
    if action.action == A.FILED and item is not None and filed_at_level(item) is not None:
        e["actions"].append(action.action_id)  # a double "file": recorded as seen, nothing moves
        res.duplicate = True
        return res
    why = refusal(item, action, policy.write_off_limit)
    if why is not None:
        res.rejected = why
        res.entry = entry
        return res
    e["actions"].append(action.action_id)
    who = f"{action.actor} ({action.actor_role})"
    trigger = f"action:{action.action_id}"
    if action.action == A.ASSIGNED:
        item["assignee"] = action.assignee
        item.setdefault("assignments", []).append({"to": action.assignee, "by": action.actor, "at": action.occurred_at.isoformat()})
        return res
    if action.action == A.FILED:
        late = is_late(item, action.filed_on)
        item["filings"].append({"level_index": int(item.get("level_index", 0)), "action_id": action.action_id,
                                "filed_on": action.filed_on.isoformat(), "by": action.actor, "late": late,
                                "late_reason": action.late_reason if late else None,
                                "method": action.filing_method.value if action.filing_method else None,
                                "packet_sha256": action.packet_sha256})
        item["status"] = "filed"
        _emit(res, e, ClaimState.APPEALED, trigger, now, _reason(
            f"appeal filed at {item.get('appeal_level') or 'payer level'} on {action.filed_on} by {who}",
            f"via {action.filing_method.value}" if action.filing_method else None,
            f"LATE (deadline {item['deadline']}): {action.late_reason}" if late else None,
            f"packet sha256 {action.packet_sha256[:16]}" if action.packet_sha256 else None), policy=policy)
        release_outcomes(res, e, item["work_item_id"], now, policy)  # an outcome that overtook this filing
        return res
    state, how = CLOSES[action.action]
    detail = None
    if action.action == A.WRITTEN_OFF:
        detail = f"{write_off_amount(item, action)} written off" + (f", approved by {action.approved_by}" if action.approved_by else "")
    if action.action == A.CORRECTED_CLAIM_SENT and action.corrected_claim_id:
        detail = f"corrected claim {action.corrected_claim_id}"
    settle(res, e, item, state, trigger, now, _reason(f"work item {how} by {who}", detail, action.reason), policy, how)
    return res


UNDERPAYMENT_ACTIONS = (A.ASSIGNED, A.RESOLVED, A.WRITTEN_OFF)


def _underpayment_action(res: Posting, entry: dict | None, e: dict, under: dict, action: AppealAction, policy: Policy) -> Posting:
    """An action on an open underpayment work item (appeals.underpayments.v1): assigned, or
    closed by resolved / written off (a write-off above the limit needs a supervisor). The
    claim's state does not move: the claim was paid, only the difference is worked."""
    view = {"work_item_id": under["work_item_id"], "kind": "manual_review", "appealable": False, "denied": under["recoverable"],
            "deadline": None, "appeal_level": None, "level_index": 0, "rule_id": "underpayment", "filings": []}
    why = (f"{action.action.value}: an underpayment is assigned, resolved or written off" if action.action not in UNDERPAYMENT_ACTIONS
           else refusal(view, action, policy.write_off_limit))
    if why is not None:
        res.rejected = why
        res.entry = entry
        return res
    e["actions"].append(action.action_id)
    e["open_underpayments"] = [dict(u) for u in e.get("open_underpayments", [])]  # copy: never mutate the stored entry
    if action.action == A.ASSIGNED:
        for u in e["open_underpayments"]:
            if u["work_item_id"] == under["work_item_id"]:
                u["assignee"] = action.assignee
        return res
    e["open_underpayments"] = [u for u in e["open_underpayments"] if u["work_item_id"] != under["work_item_id"]]
    e["closed_items"].append({"work_item_id": under["work_item_id"], "kind": "underpayment", "how": action.action.value,
                              "at": action.occurred_at.isoformat()})
    res.metrics.closed_work_items += 1
    return res


def action_id_for(work_item_id: str, kind: AppealActionKind, *parts: object) -> str:
    """Deterministic action id: the same button pressed twice on the same item (and level)
    gives the same id, which the adjudicator records once."""
    from services.adjudicator.models import local_id

    return local_id("ACT", work_item_id, kind.value, *parts)


def item_view(item) -> dict:
    """The ledger's view of an open work item, built from a ``DenialWorkItem`` (for
    ``refusal`` checks made before publishing, e.g. by the CLI or the workbench)."""
    return {"work_item_id": item.work_item_id, "kind": item.kind.value, "rule_id": item.rule_id,
            "appealable": item.appeal_level is not None or item.kind == WorkItemKind.APPEAL,
            "denied": str(item.denied_amount), "deadline": item.deadline.isoformat() if item.deadline else None,
            "appeal_level": item.appeal_level.value if item.appeal_level else None, "level_index": item.level_index,
            "filings": []}
