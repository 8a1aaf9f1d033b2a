"""Appeal economics (pure): deadlines by payer and level, overturn likelihood learned from
appeal outcomes (Beta-Binomial per payer and CARC on top of configurable priors), and the
work-queue priority = expected recoverable dollars weighted by deadline urgency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterable

from claimflow.models import AppealLevel, DenialWorkItem
from services.adjudicator.reference import PayerBook, load_payer_book

ZERO = Decimal("0.00")

# Bounded label set for "dollars at risk by days to deadline".
DEADLINE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("overdue", -1), ("0-7", 7), ("8-30", 30), ("31-60", 60), ("61-120", 120), ("121+", None),
)
NO_DEADLINE = "none"


def deadline_bucket(days_left: int | None) -> str:
    if days_left is None:
        return NO_DEADLINE
    for label, upper in DEADLINE_BUCKETS:
        if upper is None or days_left <= upper:
            return label
    return DEADLINE_BUCKETS[-1][0]


def days_left(deadline: date | None, today: date) -> int | None:
    return None if deadline is None else (deadline - today).days


@dataclass(frozen=True)
class Deadline:
    level: AppealLevel
    due: date
    level_index: int


def appeal_deadline(book: PayerBook, payer_id: str, from_date: date, level_index: int = 0) -> Deadline | None:
    """The appeal level and its filing deadline: the payer's ``level_index``-th step, counted
    from ``from_date`` (remittance date for the first level, the previous decision after)."""
    step = book.policy(payer_id).step(level_index)
    if step is None:
        return None
    return Deadline(step.level, from_date + timedelta(days=step.days), level_index)


# --- learning the overturn likelihood ------------------------------------------------------


def _key(payer_id: str, carc: str) -> str:
    return f"{payer_id}|{carc}"


@dataclass
class OverturnModel:
    """Beta-Binomial per (payer, CARC). Only observed counts are stored; the priors come
    from ``payers.yaml`` so changing a prior does not rewrite history. ``to_dict`` /
    ``from_dict`` give plain JSON for a Faust table; ``seen`` makes updates idempotent."""

    book: PayerBook = field(default_factory=load_payer_book)
    counts: dict[str, list[int]] = field(default_factory=dict)  # key -> [overturned, upheld]
    seen: list[str] = field(default_factory=list)
    max_seen: int = 10_000

    def posterior(self, payer_id: str, carc: str | None) -> tuple[float, float]:
        a, b = self.book.prior(payer_id, carc or "")
        won, lost = self.counts.get(_key(payer_id, carc or ""), [0, 0])
        return a + won, b + lost

    def likelihood(self, payer_id: str, carc: str | None) -> float:
        a, b = self.posterior(payer_id, carc)
        return a / (a + b)

    def observe(self, payer_id: str, carc: str, overturned: bool, weight: int = 1, outcome_id: str | None = None) -> bool:
        """Record one decided appeal; returns False for an outcome already counted."""
        if outcome_id is not None:
            if outcome_id in self.seen:
                return False
            self.seen.append(outcome_id)
            del self.seen[: max(0, len(self.seen) - self.max_seen)]
        won, lost = self.counts.get(_key(payer_id, carc), [0, 0])
        self.counts[_key(payer_id, carc)] = [won + weight, lost] if overturned else [won, lost + weight]
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"counts": {k: list(v) for k, v in self.counts.items()}, "seen": list(self.seen)}

    @classmethod
    def merged(cls, parts: Iterable[dict[str, Any]], book: PayerBook | None = None) -> "OverturnModel":
        """One model from several stored parts (one per source partition): counts add up.
        The merged view is for scoring; observations are written to the part they came from."""
        out = cls(book or load_payer_book())
        for raw in parts:
            for k, v in ((raw or {}).get("counts") or {}).items():
                won, lost = out.counts.get(k, [0, 0])
                out.counts[k] = [won + int(v[0]), lost + int(v[1])]
            out.seen.extend((raw or {}).get("seen") or [])
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, book: PayerBook | None = None) -> "OverturnModel":
        raw = raw or {}
        return cls(book or load_payer_book(), {k: [int(v[0]), int(v[1])] for k, v in (raw.get("counts") or {}).items()},
                   list(raw.get("seen") or []))


# --- priority -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Urgency:
    """Weight in [1, 1 + boost]: 1 when the deadline is ``horizon_days`` or more away,
    rising linearly to 1 + boost on the deadline day; 0 once it has passed."""

    horizon_days: int = 120
    boost: float = 1.0

    def weight(self, days: int | None) -> float:
        if days is None:
            return 1.0
        if days < 0:
            return 0.0
        return 1.0 + self.boost * max(0.0, 1.0 - days / self.horizon_days)


def priority_score(denied: Decimal, likelihood: float, deadline: date | None, today: date, urgency: Urgency) -> float:
    """Expected recoverable dollars (denied x overturn likelihood) x deadline urgency."""
    return round(float(max(denied, ZERO)) * likelihood * urgency.weight(days_left(deadline, today)), 4)


def rescore(item: DenialWorkItem, today: date, model: OverturnModel, urgency: Urgency = Urgency()) -> DenialWorkItem:
    """Refresh an open work item's likelihood and priority (time passes, the model learns)."""
    carc = item.reason_codes[0].split("-", 1)[-1] if item.reason_codes else None
    p = model.likelihood(item.payer_id, carc)
    return item.model_copy(update={"overturn_likelihood": p,
                                   "priority_score": priority_score(item.denied_amount, p, item.deadline, today, urgency)})


def work_queue(items: Iterable[DenialWorkItem]) -> list[DenialWorkItem]:
    """Highest priority first; ties broken by nearer deadline, then bigger amount, then id."""
    return sorted(items, key=lambda w: (-w.priority_score, w.deadline or date.max, -w.denied_amount, w.work_item_id))


def dollars_at_risk(items: Iterable[DenialWorkItem], today: date) -> dict[str, Decimal]:
    """Denied dollars on open work items by days-to-deadline bucket (every bucket present)."""
    out = {label: ZERO for label, _ in DEADLINE_BUCKETS} | {NO_DEADLINE: ZERO}
    for w in items:
        out[deadline_bucket(days_left(w.deadline, today))] += w.denied_amount
    return out
