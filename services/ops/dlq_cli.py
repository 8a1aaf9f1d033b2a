"""``claimflow dlq list|show|replay|discard``: the operator's side of the dead-letter topics.

    claimflow dlq list [--service S --stage ST --error-class E]
    claimflow dlq show COORDS... [--with-value --by USER [--reason TEXT]]
    claimflow dlq replay --by USER --reason TEXT [filters] [COORDS...] [--limit N] [--dry-run]
    claimflow dlq discard COORDS... --by USER --reason TEXT

COORDS are the dead letter's own coordinates, ``dlq.coder.v1:0:12`` (``dlq.coder.v1[0]@12``
works too). Replays and discards are recorded on dlq.actions.v1, and a dead letter with a
recorded action is not replayed again. ``show --with-value`` prints the record (PHI) and
records the read on audit.access.v1 first."""

from __future__ import annotations

import base64
import hashlib
import json
import sys

import click

from claimflow import topics
from claimflow.cli_errors import CliError
from claimflow.models import AccessEvent, DlqAction, DlqActionKind, utcnow
from services.ops import dlq_logic as logic


def _settings():
    from claimflow.settings import get_settings

    return get_settings()


def _dlq_topics(service: str | None) -> list[str]:
    if service is None:
        return [t.name for t in topics.DLQ_BY_SERVICE.values()]
    if service not in topics.DLQ_BY_SERVICE:
        raise CliError(f"unknown service {service!r}; services with a dead-letter topic: {', '.join(topics.DLQ_BY_SERVICE)}")
    return [topics.DLQ_BY_SERVICE[service].name]


def load_letters(settings, topic_names: list[str]) -> list[logic.DeadLetter]:
    from claimflow.kafkaio import read_topic

    out = []
    for name in topic_names:
        for r in read_topic(name, settings, timeout=15.0):
            out.append(logic.DeadLetter(logic.Coordinates(r.topic, r.partition, r.offset), r.key, r.value, r.headers, r.timestamp_ms))
    return out


def load_actions(settings) -> dict[str, DlqAction]:
    from claimflow.codec import Codec, DecodeError
    from claimflow.kafkaio import read_topic

    codec = Codec()
    actions = []
    for r in read_topic(topics.DLQ_ACTIONS.name, settings, timeout=15.0):
        try:
            actions.append(DlqAction.model_validate(codec.decode(r.value, topics.DLQ_ACTIONS.value)))
        except (DecodeError, ValueError):
            click.echo(f"warning: unreadable action {r.topic}[{r.partition}]@{r.offset} ignored", err=True)
    return logic.acted_on(actions)


def _send_acked(prod, spec, key: str, record) -> tuple[int, int]:
    from claimflow.codec import Codec

    meta = prod.send(spec.name, key=key.encode(), value=Codec().encode(spec.value, record.to_avro())).get(timeout=30)
    return meta.partition, meta.offset


def _parse_coords(coords: tuple[str, ...]) -> frozenset[str]:
    try:
        return frozenset(str(logic.Coordinates.parse(c)) for c in coords)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def filter_options(fn):
    fn = click.option("--service", help="only dead letters of this service (dlq.<service>.v1)")(fn)
    fn = click.option("--stage", type=click.Choice(["decode", "validate", "rules", "produce"]), help="only this failing stage")(fn)
    fn = click.option("--error-class", help="only this error class (dlq.error.class)")(fn)
    fn = click.option("--source-topic", help="only records consumed from this topic")(fn)
    return fn


@click.group("dlq")
def dlq() -> None:
    """Dead letters: list, show, replay after a fix, discard with a reason."""


@dlq.command("list")
@filter_options
def list_cmd(service, stage, error_class, source_topic) -> None:
    """Counts and ages by service, stage and error class (open = no replay or discard yet)."""
    settings = _settings()
    filters = logic.Filters(service, stage, error_class, source_topic)
    letters = [d for d in load_letters(settings, _dlq_topics(service)) if filters.match(d)]
    actions = load_actions(settings)
    rows = logic.list_rows(letters, actions, utcnow())
    if not rows:
        click.echo("no dead letters" + (" matching the filters" if (stage or error_class or source_topic) else ""))
        return
    for line in logic.format_rows(rows):
        click.echo(line)
    click.echo(f"{sum(r.open for r in rows)} open, {sum(r.replayed for r in rows)} replayed, {sum(r.discarded for r in rows)} discarded")


def _value_text(d: logic.DeadLetter) -> str:
    from claimflow.codec import Codec, DecodeError

    spec = topics.BY_NAME.get(d.source_topic)
    if spec is not None and not spec.is_dlq and d.value is not None:
        try:
            return json.dumps(Codec().decode(d.value, spec.value), default=str, indent=2)
        except (DecodeError, ValueError, TypeError):
            pass
    return "base64:" + base64.b64encode(d.value or b"").decode()


@dlq.command("show")
@click.argument("coords", nargs=-1, required=True)
@click.option("--with-value", is_flag=True, help="also print the record itself (PHI); the read is recorded on audit.access.v1")
@click.option("--by", "user", help="your user id (required with --with-value)")
@click.option("--reason", default=None, help="why you read the value (kept in the access audit)")
def show_cmd(coords, with_value, user, reason) -> None:
    """Coordinates and headers of dead letters; never the value unless --with-value."""
    wanted = _parse_coords(coords)
    if with_value and not user:
        raise CliError("--with-value needs --by USER: reading a record's value is recorded in the access audit")
    settings = _settings()
    names = sorted({logic.Coordinates.parse(c).topic for c in wanted})
    unknown = [n for n in names if n not in {t.name for t in topics.DLQ_BY_SERVICE.values()}]
    if unknown:
        raise CliError(f"not a dead-letter topic: {', '.join(unknown)}")
    letters = {str(d.at): d for d in load_letters(settings, names) if str(d.at) in wanted}
    missing = sorted(wanted - set(letters))
    if missing:
        raise CliError(f"no dead letter at {', '.join(missing)}")
    actions = load_actions(settings)
    prod = None
    try:
        for c in sorted(wanted):
            d = letters[c]
            for line in logic.describe(d, actions.get(c)):
                click.echo(line)
            if with_value:
                from claimflow.kafkaio import producer

                prod = prod or producer(settings)
                now = utcnow()
                event = AccessEvent(event_id="AE" + hashlib.sha256(f"{user}\x1f{c}\x1f{now.isoformat()}".encode()).hexdigest()[:18].upper(),
                                    occurred_at=now, user=user, role="operator", action="read", record_type="dead_letter",
                                    record_id=c, service="cli", route="dlq show --with-value", reason=reason)
                _send_acked(prod, topics.AUDIT_ACCESS, c, event)  # audited before it is shown
                click.echo("  value:")
                click.echo("\n".join("    " + ln for ln in _value_text(d).splitlines()))
    finally:
        if prod is not None:
            prod.close()


@dlq.command("replay")
@click.argument("coords", nargs=-1)
@filter_options
@click.option("--by", "user", required=True, help="your user id (recorded with each replay)")
@click.option("--reason", required=True, help="what was fixed (recorded with each replay)")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="replay at most N dead letters")
@click.option("--dry-run", is_flag=True, help="say what would be replayed; write nothing")
def replay_cmd(coords, service, stage, error_class, source_topic, user, reason, limit, dry_run) -> None:
    """Put dead letters back on their source topic after a fix, each once."""
    settings = _settings()
    wanted = _parse_coords(coords)
    if not (wanted or service or stage or error_class or source_topic):
        raise CliError("say which dead letters: COORDS or at least one of --service/--stage/--error-class/--source-topic")
    names = sorted({logic.Coordinates.parse(c).topic for c in wanted}) if wanted else _dlq_topics(service)
    letters = load_letters(settings, names)
    actions = load_actions(settings)
    plan = logic.plan_replay(letters, actions, logic.Filters(service, stage, error_class, source_topic, wanted), limit)
    for d, why in plan.refused:
        click.echo(f"  not replayable {d.at}: {why}", err=True)
    if dry_run:
        for d in plan.replay:
            click.echo(f"  would replay {d.at} -> {d.source_topic} ({d.service}/{d.stage}/{d.error_class})")
        click.echo(f"dry run: would replay {len(plan.replay)}; already replayed or discarded {len(plan.already)}; not replayable {len(plan.refused)}")
        return
    from claimflow.kafkaio import producer

    replayed = 0
    prod = producer(settings)
    try:
        for d in plan.replay:
            # the copy first, then the action: a crash in between can replay a record twice
            # (consumers are idempotent), never mark one replayed that was not
            meta = prod.send(d.source_topic, key=d.key, value=d.value, headers=d.replay_headers()).get(timeout=30)
            where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
            _send_acked(prod, topics.DLQ_ACTIONS, str(d.at), logic.action_for(d, DlqActionKind.REPLAYED, user, reason, utcnow(), where))
            replayed += 1
            click.echo(f"  replayed {d.at} -> {where}")
    finally:
        prod.close()
    click.echo(f"replayed {replayed}; already replayed or discarded {len(plan.already)}; not replayable {len(plan.refused)}")


@dlq.command("discard")
@click.argument("coords", nargs=-1, required=True)
@click.option("--by", "user", required=True, help="your user id")
@click.option("--reason", required=True, help="why it is closed without replay (no patient data)")
def discard_cmd(coords, user, reason) -> None:
    """Close dead letters without replaying them; the reason is recorded on dlq.actions.v1."""
    if not reason.strip():
        raise CliError("--reason must say why")
    settings = _settings()
    wanted = _parse_coords(coords)
    names = sorted({logic.Coordinates.parse(c).topic for c in wanted})
    letters = {str(d.at): d for d in load_letters(settings, names) if str(d.at) in wanted}
    missing = sorted(wanted - set(letters))
    if missing:
        raise CliError(f"no dead letter at {', '.join(missing)}")
    actions = load_actions(settings)
    from claimflow.kafkaio import producer

    done = 0
    prod = producer(settings)
    try:
        for c in sorted(wanted):
            if c in actions:
                click.echo(f"  {c} already {actions[c].action.value} by {actions[c].actor}; nothing recorded")
                continue
            _send_acked(prod, topics.DLQ_ACTIONS, c, logic.action_for(letters[c], DlqActionKind.DISCARDED, user, reason, utcnow()))
            done += 1
            click.echo(f"  discarded {c}")
    finally:
        prod.close()
    click.echo(f"discarded {done}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(dlq())
