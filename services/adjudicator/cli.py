"""``claimflow appeals``: the biller's side of the denial worklist, from a terminal.

    claimflow appeals worklist [--kind appeal] [--payer MCR01] [--limit 20]
    claimflow appeals letter WORK_ITEM_ID --argument-file why.txt --out letter.pdf
    claimflow appeals file WORK_ITEM_ID --by USER [--method portal] [--on 2026-05-01]
              [--packet letter.pdf] [--late-reason TEXT]
    claimflow appeals write-off WORK_ITEM_ID --by USER --reason TEXT [--amount 40.00]
              [--approved-by SUPERVISOR]
    claimflow appeals act WORK_ITEM_ID assigned|withdrawn|resolved|corrected_claim_sent --by USER ...

Each action is published once to appeals.actions.v1 (its id is derived from the item and the
action, so running the same command twice records one action); the adjudicator applies it.
A refused action (late filing without a reason, a write-off above the limit without a
supervisor) is refused here with the reason and nothing is published; the adjudicator runs
the same check again and dead-letters anything that slips through."""

from __future__ import annotations

import hashlib
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import click

from claimflow import topics
from claimflow.codec import Codec, DecodeError
from claimflow.models import AppealAction, AppealActionKind, DenialWorkItem, FilingMethod, utcnow


def work_items(settings) -> dict[str, DenialWorkItem]:
    """Every work item on appeals.v1 (the latest copy of each id)."""
    from claimflow.kafkaio import read_topic

    codec, out = Codec(), {}
    for rec in read_topic(topics.APPEALS.name, settings, timeout=30.0):
        try:
            item = DenialWorkItem.model_validate(codec.decode(rec.value, topics.APPEALS.value))
        except (DecodeError, ValueError):
            continue
        out[item.work_item_id] = item
    return out


def _item(settings, work_item_id: str) -> DenialWorkItem:
    item = work_items(settings).get(work_item_id)
    if item is None:
        raise click.ClickException(f"no work item {work_item_id} on {topics.APPEALS.name}")
    return item


def _publish(settings, action: AppealAction, item: DenialWorkItem) -> None:
    from claimflow.publish import publish_records
    from services.adjudicator.actions import item_view, refusal

    why = refusal(item_view(item), action, Decimal(str(settings.adjudicator_write_off_limit)))
    if why is not None:
        raise click.ClickException(f"refused: {why}")
    publish_records(topics.APPEAL_ACTIONS, [action], "claim_id", settings)
    click.echo(f"{action.action.value}: {action.action_id} published for {item.work_item_id}")


@click.group(name="appeals")
def appeals() -> None:
    """Denial worklist: letters, filings, write-offs and other actions."""


@appeals.command(name="worklist")
@click.option("--kind", default=None, help="only this kind (appeal, corrected_claim, ...)")
@click.option("--payer", default=None)
@click.option("--limit", default=20, show_default=True)
def worklist_cmd(kind: str | None, payer: str | None, limit: int) -> None:
    """Work items by priority (recoverable dollars x likelihood x deadline urgency)."""
    from claimflow.settings import get_settings
    from services.adjudicator.appeals import days_left, work_queue

    items = [w for w in work_items(get_settings()).values() if (not kind or w.kind.value == kind) and (not payer or w.payer_id == payer)]
    today = date.today()
    for w in work_queue(items)[:limit]:
        left = days_left(w.deadline, today)
        click.echo(f"{w.priority_score:10.2f}  {w.kind.value:20} {w.payer_id:6} {','.join(w.reason_codes):14} "
                   f"${w.recoverable_amount or 0:>9}  {'-' if left is None else str(left) + 'd':>6}  {w.work_item_id}  {w.claim_id}")


@appeals.command(name="letter")
@click.argument("work_item_id")
@click.option("--argument-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def letter_cmd(work_item_id: str, argument_file: Path, out: Path) -> None:
    """Write the appeal letter PDF for a work item; prints its SHA-256 for ``file --packet``."""
    from claimflow.settings import get_settings
    from services.adjudicator.letters import LetterError, packet_from_work_item, render_appeal_letter

    settings = get_settings()
    item = _item(settings, work_item_id)
    try:
        letter = render_appeal_letter(packet_from_work_item(item, argument_file.read_text(encoding="utf-8")))
    except LetterError as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(letter.pdf)
    click.echo(f"{out}: template {letter.template}, sha256 {letter.sha256}")


@appeals.command(name="file")
@click.argument("work_item_id")
@click.option("--by", "actor", required=True)
@click.option("--role", "role", default="biller", show_default=True)
@click.option("--method", type=click.Choice([m.value for m in FilingMethod]), default="portal", show_default=True)
@click.option("--on", "filed_on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="filing date (today)")
@click.option("--packet", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--late-reason", default=None)
def file_cmd(work_item_id, actor, role, method, filed_on, packet, late_reason) -> None:
    """Record that the appeal was filed (once per item and level)."""
    from claimflow.settings import get_settings
    from services.adjudicator.actions import action_id_for

    settings = get_settings()
    item = _item(settings, work_item_id)
    sha = hashlib.sha256(packet.read_bytes()).hexdigest() if packet else None
    action = AppealAction(
        action_id=action_id_for(item.work_item_id, AppealActionKind.FILED, item.level_index), work_item_id=item.work_item_id,
        claim_id=item.claim_id, action=AppealActionKind.FILED, actor=actor, actor_role=role, occurred_at=utcnow(),
        filed_on=filed_on.date() if filed_on else date.today(), filing_method=FilingMethod(method), appeal_level=item.appeal_level,
        late_reason=late_reason, packet_sha256=sha, payer_id=item.payer_id,
        reason_code=item.reason_codes[0].split("-", 1)[-1] if item.reason_codes else None, appealed_amount=item.recoverable_amount)
    _publish(settings, action, item)


@appeals.command(name="write-off")
@click.argument("work_item_id")
@click.option("--by", "actor", required=True)
@click.option("--role", "role", default="biller", show_default=True)
@click.option("--reason", required=True)
@click.option("--amount", type=str, default=None, help="dollars (the denied amount when omitted)")
@click.option("--approved-by", default=None, help="supervisor approving a write-off above the limit")
def write_off_cmd(work_item_id, actor, role, reason, amount, approved_by) -> None:
    """Write a work item off (a supervisor approves above the configured limit)."""
    from claimflow.settings import get_settings
    from services.adjudicator.actions import action_id_for

    settings = get_settings()
    item = _item(settings, work_item_id)
    action = AppealAction(
        action_id=action_id_for(item.work_item_id, AppealActionKind.WRITTEN_OFF, amount or "", approved_by or ""),
        work_item_id=item.work_item_id, claim_id=item.claim_id, action=AppealActionKind.WRITTEN_OFF, actor=actor, actor_role=role,
        occurred_at=utcnow(), reason=reason, write_off_amount=Decimal(amount) if amount else None, approved_by=approved_by,
        approver_role="supervisor" if approved_by else None, payer_id=item.payer_id)
    _publish(settings, action, item)


@appeals.command(name="act")
@click.argument("work_item_id")
@click.argument("kind", type=click.Choice(["assigned", "withdrawn", "resolved", "corrected_claim_sent"]))
@click.option("--by", "actor", required=True)
@click.option("--role", "role", default="biller", show_default=True)
@click.option("--reason", default=None)
@click.option("--assignee", default=None)
@click.option("--corrected-claim-id", default=None)
def act_cmd(work_item_id, kind, actor, role, reason, assignee, corrected_claim_id) -> None:
    """Assign, withdraw, resolve, or record the corrected claim sent."""
    from claimflow.settings import get_settings
    from services.adjudicator.actions import action_id_for

    settings = get_settings()
    item = _item(settings, work_item_id)
    k = AppealActionKind(kind)
    try:
        action = AppealAction(action_id=action_id_for(item.work_item_id, k, assignee or "", corrected_claim_id or ""),
                              work_item_id=item.work_item_id, claim_id=item.claim_id, action=k, actor=actor, actor_role=role,
                              occurred_at=utcnow(), reason=reason, assignee=assignee, corrected_claim_id=corrected_claim_id)
    except ValueError as exc:
        raise click.ClickException(str(exc).splitlines()[-1]) from None
    _publish(settings, action, item)


if __name__ == "__main__":  # pragma: no cover
    appeals()
    sys.exit(0)
