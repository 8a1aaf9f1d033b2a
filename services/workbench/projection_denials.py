"""The projector's rules for the denial worklist (pure ORM, no Kafka; routed from
``services.workbench.projection.ROUTES``).

    appeals.v1               DenialWorkItem       -> WorkItem (kind from the adjudicator)
    appeals.underpayments.v1 UnderpaymentWorkItem -> WorkItem (kind ``underpayment``)
    appeals.actions.v1       AppealAction         -> WorkAction; the item's assignee / filing / closing
    appeals.outcomes.v1      AppealOutcome        -> AppealOutcomeRecord; the item closes (overturned,
                                                     upheld: the next level is linked), and open items of
                                                     the same payer and CARC are re-scored
    denials.no-action.v1     NoActionDisposition  -> NoActionRecord

Every write is keyed by the business id, so a redelivery rewrites the same row. A work item
redelivered (or re-emitted by the adjudicator) refreshes the adjudicator's fields but never
reopens what people closed. An action or outcome may arrive before its work item (several
topics): it is kept and applied when the item arrives. No PHI on the timeline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from django.db.models import Count, Q

from claimflow.models import (
    AppealAction,
    AppealActionKind,
    AppealOutcome,
    AppealOutcomeKind,
    DenialWorkItem,
    NoActionDisposition,
    UnderpaymentWorkItem,
    WorkItemKind,
)
from services.workbench.models import (
    AppealOutcomeRecord, NoActionRecord, RemittanceRecord, TimelineEvent, WorkAction, WorkItem, WorkStatus,
)

UNDERPAYMENT_ODDS = 0.6  # the adjudicator's recovery odds for underpayment work (Policy.recovery_odds)
CLOSING = {AppealActionKind.WITHDRAWN: "withdrawn", AppealActionKind.WRITTEN_OFF: "written_off",
           AppealActionKind.RESOLVED: "resolved", AppealActionKind.CORRECTED_CLAIM_SENT: "corrected_claim_sent"}


@lru_cache(maxsize=1)
def payer_book():
    from services.adjudicator.reference import load_payer_book

    return load_payer_book()


def split_carc(code: str) -> tuple[str, str]:
    """"CO-50" -> ("CO", "50"); "50" -> ("", "50")."""
    group, sep, num = code.partition("-")
    return (group, num) if sep else ("", code)


def _timeline(key: str, claim_id: str, kind: str, at: datetime, actor: str, detail: str) -> None:
    from services.workbench.models import ClaimRecord

    enc = ClaimRecord.objects.filter(claim_id=claim_id).values_list("encounter_id", flat=True).first() or ""
    TimelineEvent.objects.update_or_create(event_key=key[:120], defaults=dict(
        encounter_id=enc, claim_id=claim_id, kind=kind, at=at, actor=actor[:150], detail=detail[:400]))


def _upsert_item(work_item_id: str, fields: dict) -> WorkItem:
    item, created = WorkItem.objects.get_or_create(work_item_id=work_item_id, defaults=fields)
    if not created:
        for k, v in fields.items():
            setattr(item, k, v)
        item.save(update_fields=list(fields))
    # what people did before the item arrived (several topics: any order)
    for act in WorkAction.objects.filter(work_item_id=work_item_id).order_by("occurred_at"):
        _apply_action(item, AppealAction.model_validate(act.document))
    for out in AppealOutcomeRecord.objects.filter(work_item_id=work_item_id).order_by("received_at"):
        _apply_outcome(item, out)
    return item


def denial_work_item(w: DenialWorkItem) -> None:
    primary = w.reason_codes[0] if w.reason_codes else ""
    group, code = split_carc(primary)
    item = _upsert_item(w.work_item_id, dict(
        source="denial", kind=w.kind.value, sub_kind="", claim_id=w.claim_id, adjudication_id=w.adjudication_id,
        payer_id=w.payer_id, disposition=w.disposition.value, rule_id=w.rule_id, reason_codes=" ".join(w.reason_codes)[:200],
        carc_group=group[:4], carc_code=code[:12], remark_codes=" ".join(w.remark_codes)[:200],
        appeal_level=w.appeal_level.value if w.appeal_level else "", level_index=w.level_index, deadline=w.deadline,
        remittance_date=w.remittance_date, denied_amount=w.denied_amount,
        recoverable_amount=w.recoverable_amount if w.recoverable_amount is not None else w.denied_amount,
        overturn_likelihood=w.overturn_likelihood, priority_score=w.priority_score, reason_family=w.reason_family or "",
        explanation=w.explanation, document=w.model_dump(mode="json"), created_at=w.created_at))
    if w.level_index > 0 or w.kind == WorkItemKind.WRITE_OFF_APPROVAL:  # the level this one follows
        prev_level = w.level_index - 1 if w.kind == WorkItemKind.APPEAL else w.level_index
        WorkItem.objects.filter(claim_id=w.claim_id, adjudication_id=w.adjudication_id, level_index=prev_level,
                                closed_how="upheld").exclude(work_item_id=w.work_item_id).update(next_item_id=w.work_item_id)
    _timeline(f"work:{w.work_item_id}", w.claim_id, "work item", w.created_at, "adjudicator",
              f"{w.kind.value.replace('_', ' ')} work item ({w.rule_id}, {' '.join(w.reason_codes)}, {w.denied_amount})"
              + (f", {w.appeal_level.value.replace('_', ' ')} due {w.deadline}" if w.appeal_level else ""))
    del item


def underpayment_work_item(u: UnderpaymentWorkItem) -> None:
    from services.adjudicator.appeals import Urgency, priority_score

    _upsert_item(u.work_item_id, dict(
        source="underpayment", kind=WorkItemKind.UNDERPAYMENT.value, sub_kind=u.kind.value, claim_id=u.claim_id,
        adjudication_id=u.adjudication_id, payer_id=u.payer_id, disposition="", rule_id=u.contract_term[:40],
        reason_codes="", carc_group="", carc_code="", remark_codes="", appeal_level="", level_index=0, deadline=None,
        remittance_date=u.remittance_date, denied_amount=u.recoverable_amount, recoverable_amount=u.recoverable_amount,
        overturn_likelihood=UNDERPAYMENT_ODDS,
        priority_score=priority_score(u.recoverable_amount, UNDERPAYMENT_ODDS, None, u.created_at.date(), Urgency()),
        reason_family=u.kind.value, explanation=u.explanation, document=u.model_dump(mode="json"), created_at=u.created_at))
    _timeline(f"work:{u.work_item_id}", u.claim_id, "work item", u.created_at, "adjudicator",
              f"{u.kind.value} line {u.line_number} ({u.procedure_code}): {u.recoverable_amount} to recover")


def _apply_action(item: WorkItem, a: AppealAction) -> None:
    if a.action == AppealActionKind.ASSIGNED:
        item.assignee = a.assignee or ""
        item.save(update_fields=["assignee"])
    elif a.action == AppealActionKind.FILED:
        if item.status == WorkStatus.CLOSED or (item.filed_on is not None and item.status == WorkStatus.FILED):
            return  # a second filing of the same level changes nothing
        late = bool(item.deadline and a.filed_on and a.filed_on > item.deadline)
        item.status, item.filed_on = WorkStatus.FILED, a.filed_on
        item.filing_method = a.filing_method.value if a.filing_method else ""
        item.filed_late, item.late_reason = late, (a.late_reason or "") if late else ""
        item.packet_sha256 = a.packet_sha256 or ""
        item.save(update_fields=["status", "filed_on", "filing_method", "filed_late", "late_reason", "packet_sha256"])
    elif a.action in CLOSING and item.status != WorkStatus.CLOSED:
        item.status, item.closed_how, item.closed_at = WorkStatus.CLOSED, CLOSING[a.action], a.occurred_at
        item.save(update_fields=["status", "closed_how", "closed_at"])


def action(a: AppealAction) -> None:
    WorkAction.objects.get_or_create(action_id=a.action_id, defaults=dict(
        work_item_id=a.work_item_id, claim_id=a.claim_id, action=a.action.value, actor=a.actor, actor_role=a.actor_role,
        occurred_at=a.occurred_at, document=a.model_dump(mode="json")))
    item = WorkItem.objects.filter(work_item_id=a.work_item_id).first()
    if item is not None:
        _apply_action(item, a)
    what = {AppealActionKind.ASSIGNED: f"assigned to {a.assignee}",
            AppealActionKind.FILED: f"appeal filed on {a.filed_on}" + (f" by {a.filing_method.value}" if a.filing_method else "")
            + (" (LATE)" if item is not None and item.filed_late else ""),
            AppealActionKind.WRITTEN_OFF: "written off" + (f", approved by {a.approved_by}" if a.approved_by else ""),
            }.get(a.action, a.action.value.replace("_", " "))
    _timeline(f"action:{a.action_id}", a.claim_id, "work action", a.occurred_at, a.actor, f"{what} ({a.work_item_id})")


def _apply_outcome(item: WorkItem, o: AppealOutcomeRecord) -> None:
    if item.status == WorkStatus.CLOSED:
        return
    item.status, item.closed_how, item.closed_at = WorkStatus.CLOSED, o.outcome, o.received_at
    item.recovered_amount = o.recovered_amount
    if o.outcome == AppealOutcomeKind.UPHELD.value:  # the adjudicator opens the next level (or a write-off to approve)
        nxt = (WorkItem.objects.filter(claim_id=item.claim_id, adjudication_id=item.adjudication_id)
               .filter(Q(level_index=item.level_index + 1, kind=WorkItemKind.APPEAL.value)
                       | Q(level_index=item.level_index, kind=WorkItemKind.WRITE_OFF_APPROVAL.value))
               .exclude(work_item_id=item.work_item_id).values_list("work_item_id", flat=True).first())
        item.next_item_id = nxt or ""
    item.save(update_fields=["status", "closed_how", "closed_at", "recovered_amount", "next_item_id"])


def outcome(o: AppealOutcome) -> None:
    rec, created = AppealOutcomeRecord.objects.get_or_create(outcome_id=o.outcome_id, defaults=dict(
        work_item_id=o.work_item_id, claim_id=o.claim_id, payer_id=o.payer_id, reason_code=o.reason_code,
        appeal_level=o.appeal_level.value, outcome=o.outcome.value, recovered_amount=o.recovered_amount, decided_on=o.decided_on,
        received_at=o.received_at))
    item = WorkItem.objects.filter(work_item_id=o.work_item_id).first()
    if item is not None and created:
        was_filed = item.filed_on is not None and item.status != WorkStatus.CLOSED
        _apply_outcome(item, rec)
        if was_filed and o.outcome != AppealOutcomeKind.WITHDRAWN:  # what the adjudicator's model learns too
            rec.counted = True
            rec.save(update_fields=["counted"])
            rescore(o.payer_id, o.reason_code, o.received_at.date())
    _timeline(f"outcome:{o.outcome_id}", o.claim_id, "appeal outcome", o.received_at, "payer",
              f"appeal {o.outcome.value.replace('_', ' ')} at {o.appeal_level.value.replace('_', ' ')}, recovered {o.recovered_amount}")


def likelihood(payer_id: str, carc: str) -> float:
    """The overturn likelihood for (payer, CARC number): the adjudicator's Beta-Binomial
    (priors from payers.yaml) over the outcomes this read model counted."""
    from services.adjudicator.appeals import OverturnModel

    agg = AppealOutcomeRecord.objects.filter(payer_id=payer_id, reason_code=carc, counted=True).aggregate(
        won=Count("outcome_id", filter=Q(outcome__in=[AppealOutcomeKind.OVERTURNED.value,
                                                     AppealOutcomeKind.PARTIALLY_OVERTURNED.value])),
        lost=Count("outcome_id", filter=Q(outcome=AppealOutcomeKind.UPHELD.value)))
    model = OverturnModel(payer_book(), {f"{payer_id}|{carc}": [agg["won"], agg["lost"]]})
    return model.likelihood(payer_id, carc)


def rescore(payer_id: str, carc: str, today: date) -> int:
    """Re-score the open appealable items of (payer, CARC) after an outcome: the same formula
    as the adjudicator (recoverable x likelihood x deadline urgency). Returns how many moved."""
    from services.adjudicator.appeals import Urgency, priority_score

    p = likelihood(payer_id, carc)
    n = 0
    for it in WorkItem.objects.filter(status=WorkStatus.OPEN, payer_id=payer_id, carc_code=carc, source="denial").exclude(appeal_level=""):
        it.overturn_likelihood = round(p, 6)
        it.priority_score = priority_score(Decimal(it.recoverable_amount), p, it.deadline, today, Urgency())
        it.save(update_fields=["overturn_likelihood", "priority_score"])
        n += 1
    return n


def no_action(n: NoActionDisposition) -> None:
    NoActionRecord.objects.update_or_create(record_id=n.record_id, defaults=dict(
        claim_id=n.claim_id, adjudication_id=n.adjudication_id, payer_id=n.payer_id, disposition=n.disposition.value,
        rule_id=n.rule_id, reason_codes=" ".join(n.reason_codes)[:200], amount=n.amount, reason_family=n.reason_family or "",
        why=n.why, decided_at=n.decided_at))


def remittance(adj) -> None:
    RemittanceRecord.objects.update_or_create(adjudication_id=adj.adjudication_id, defaults=dict(
        claim_id=adj.claim_id, payer_id=adj.payer_id, claim_status_code=adj.claim_status_code, paid_amount=adj.paid_amount,
        remittance_date=adj.remittance_date, document=adj.model_dump(mode="json"), received_at=adj.received_at))
