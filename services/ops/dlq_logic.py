"""Dead letters as an operator sees them (pure: no Kafka).

A dead letter is addressed by its own coordinates on the dead-letter topic
(``dlq.coder.v1:0:12``) and explains itself in its ``dlq.*`` headers (claimflow.dlq). An
operator lists them by service, stage and error class; replays them onto their source
topic once the cause is fixed; or discards them with a reason. Every replay and discard
is a ``DlqAction`` on ``dlq.actions.v1``; a dead letter that has an action is never
replayed again (the idempotency guard)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from claimflow import topics
from claimflow.dlq import headers_dict
from claimflow.models import DlqAction, DlqActionKind
from services.ops.tables import format_table

REPLAY_HEADER = "dlq.replayed.from"
_COORD = re.compile(r"^(?P<topic>[a-z0-9.-]+)(?::|\[)(?P<partition>\d+)(?::|\]@)(?P<offset>\d+)$")


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> "Coordinates":
        m = _COORD.match(text.strip())
        if not m:
            raise ValueError(f"not dead-letter coordinates: {text!r} (want TOPIC:PARTITION:OFFSET, e.g. dlq.coder.v1:0:12)")
        return cls(m["topic"], int(m["partition"]), int(m["offset"]))


@dataclass(frozen=True)
class DeadLetter:
    at: Coordinates
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int

    @property
    def info(self) -> dict[str, str]:
        return headers_dict(self.headers)

    def header(self, name: str, default: str = "") -> str:
        return self.info.get(name, default)

    @property
    def service(self) -> str:
        return self.header("dlq.service", "unknown")

    @property
    def stage(self) -> str:
        return self.header("dlq.stage", "unknown")

    @property
    def error_class(self) -> str:
        return self.header("dlq.error.class", "unknown")

    @property
    def source_topic(self) -> str:
        return self.header("dlq.source.topic")

    def source_int(self, name: str) -> int:
        try:
            return int(self.header(name, "-1"))
        except ValueError:
            return -1

    @property
    def failed_at(self) -> datetime | None:
        text = self.header("dlq.failed_at")
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    def when(self) -> datetime:
        return self.failed_at or datetime.fromtimestamp(self.timestamp_ms / 1000, timezone.utc)

    def not_replayable(self) -> str | None:
        """Why this dead letter cannot go back on its source topic, or None."""
        if self.header("dlq.value.omitted") == "true":
            return "value was too large to keep (only its size and digest are on the dead letter)"
        if self.value is None:
            return "no value (a tombstone)"
        spec = topics.BY_NAME.get(self.source_topic)
        if spec is None:
            return f"source {self.source_topic or '(none)'} is not a catalog topic (e.g. an X12 file: drop the file in the inbox again)"
        if spec.is_dlq:
            return "source is itself a dead-letter topic"
        return None

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The original headers (without the dead-letter explanation) plus where it came from."""
        kept = [(k, v) for k, v in self.headers if not k.startswith("dlq.")]
        return kept + [(REPLAY_HEADER, str(self.at).encode())]


@dataclass(frozen=True)
class Filters:
    service: str | None = None
    stage: str | None = None
    error_class: str | None = None
    source_topic: str | None = None
    coordinates: frozenset[str] = frozenset()

    def match(self, d: DeadLetter) -> bool:
        return ((self.service is None or d.service == self.service)
                and (self.stage is None or d.stage == self.stage)
                and (self.error_class is None or d.error_class == self.error_class)
                and (self.source_topic is None or d.source_topic == self.source_topic)
                and (not self.coordinates or str(d.at) in self.coordinates))


def acted_on(actions: list[DlqAction]) -> dict[str, DlqAction]:
    """Coordinates -> the first action recorded on them."""
    out: dict[str, DlqAction] = {}
    for a in actions:
        out.setdefault(str(Coordinates(a.dlq_topic, a.dlq_partition, a.dlq_offset)), a)
    return out


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class ListRow:
    service: str
    stage: str
    error_class: str
    open: int
    replayed: int
    discarded: int
    oldest: str
    newest: str


def list_rows(letters: list[DeadLetter], actions: dict[str, DlqAction], now: datetime) -> list[ListRow]:
    """One row per (service, stage, error class): open / replayed / discarded counts and the
    age of the oldest and newest dead letter still open (or of any, when none is open)."""
    groups: dict[tuple[str, str, str], list[DeadLetter]] = defaultdict(list)
    for d in letters:
        groups[(d.service, d.stage, d.error_class)].append(d)
    rows = []
    for (service, stage, error_class), items in sorted(groups.items()):
        kinds = [actions[str(d.at)].action if str(d.at) in actions else None for d in items]
        still_open = [d for d, k in zip(items, kinds) if k is None]
        aged = still_open or items
        times = [d.when() for d in aged]
        rows.append(ListRow(service, stage, error_class, len(still_open), kinds.count(DlqActionKind.REPLAYED),
                            kinds.count(DlqActionKind.DISCARDED), _age((now - min(times)).total_seconds()),
                            _age((now - max(times)).total_seconds())))
    return rows


def format_rows(rows: list[ListRow]) -> list[str]:
    head = ("SERVICE", "STAGE", "ERROR CLASS", "OPEN", "REPLAYED", "DISCARDED", "OLDEST", "NEWEST")
    body = [(r.service, r.stage, r.error_class, str(r.open), str(r.replayed), str(r.discarded), r.oldest, r.newest) for r in rows]
    return format_table(head, body, numeric={3, 4, 5})


@dataclass
class ReplayPlan:
    replay: list[DeadLetter]
    already: list[tuple[DeadLetter, DlqAction]]
    refused: list[tuple[DeadLetter, str]]


def plan_replay(letters: list[DeadLetter], actions: dict[str, DlqAction], filters: Filters, limit: int | None) -> ReplayPlan:
    plan = ReplayPlan([], [], [])
    for d in sorted(letters, key=lambda x: (x.at.topic, x.at.partition, x.at.offset)):
        if not filters.match(d):
            continue
        done = actions.get(str(d.at))
        if done is not None:
            plan.already.append((d, done))
            continue
        why = d.not_replayable()
        if why:
            plan.refused.append((d, why))
            continue
        if limit is not None and len(plan.replay) >= limit:
            continue
        plan.replay.append(d)
    return plan


def action_for(d: DeadLetter, kind: DlqActionKind, actor: str, reason: str, now: datetime, replayed_to: str | None = None) -> DlqAction:
    action_id = "DA" + hashlib.sha256(f"{d.at}\x1f{kind.value}".encode()).hexdigest()[:18].upper()
    return DlqAction(action_id=action_id, action=kind, dlq_topic=d.at.topic, dlq_partition=d.at.partition, dlq_offset=d.at.offset,
                     service=d.service, stage=d.stage, error_class=d.error_class, source_topic=d.source_topic,
                     source_partition=d.source_int("dlq.source.partition"), source_offset=d.source_int("dlq.source.offset"),
                     replayed_to=replayed_to, reason=reason, actor=actor, acted_at=now)


def describe(d: DeadLetter, action: DlqAction | None) -> list[str]:
    """What `dlq show` prints: coordinates, key size, headers; never the value."""
    lines = [f"dead letter {d.at}  (written {d.when().isoformat(timespec='seconds')})",
             f"  source    {d.source_topic}[{d.header('dlq.source.partition', '?')}]@{d.header('dlq.source.offset', '?')}",
             f"  key       {len(d.key or b'')} bytes    value {len(d.value or b'')} bytes (not shown; --with-value prints it and is audited)"]
    if action is not None:
        lines.append(f"  {action.action.value} by {action.actor} at {action.acted_at.isoformat(timespec='seconds')}"
                     + (f" -> {action.replayed_to}" if action.replayed_to else "") + (f": {action.reason}" if action.reason else ""))
    else:
        lines.append("  open (no replay or discard recorded)")
    lines.append("  headers:")
    for k, v in d.headers:
        text = v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
        lines.append(f"    {k} = {text}")
    return lines
