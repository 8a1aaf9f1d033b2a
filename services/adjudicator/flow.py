"""The adjudicator's per-posting bookkeeping, pure (no Faust, no Kafka): what a posting
from services/adjudicator/logic.py means for the ledger table, the dead-letter topic and
the metrics. The state transitions themselves are logic.py's ``apply_*`` functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from claimflow.models import Adjudication

from services.adjudicator.logic import Posting


@dataclass(frozen=True)
class PostingCounts:
    """Bounded metric samples of one posting (payer ids are organisations, never patients)."""

    payer: str
    adjudications: tuple[str, ...] = ()  # resulting claim state per posted remittance
    denials: tuple[tuple[str, str], ...] = ()  # (CAS group, disposition)
    unknown_codes: int = 0
    finding_families: tuple[str, ...] = ()  # "BAL", "REV", ... (the code before the first "-")
    duplicate: bool = False


def payer_of(posting: Posting) -> str:
    return str(((posting.entry or {}).get("context") or {}).get("payer_id") or "unknown")


def counts(posting: Posting) -> PostingCounts:
    m = posting.metrics
    return PostingCounts(
        payer=payer_of(posting), adjudications=tuple(m.adjudications),
        denials=tuple((group, disposition) for group, _family, disposition in m.denials),
        unknown_codes=m.unknown_codes, finding_families=tuple(f.code.split("-")[0] for f in posting.findings),
        duplicate=posting.duplicate)


def ledger_write(posting: Posting) -> dict | None:
    """The claim's new ledger entry; None: delete the key (nothing left to keep)."""
    return posting.entry


@dataclass
class UnmatchedGuard:
    """Remittances whose claim never came are dead-lettered once per process: the sweep
    finds them on every pass until the next event for that claim cleans the entry (Faust
    tables cannot be written outside stream iteration)."""

    sent: set[str] = field(default_factory=set)

    def take(self, posting: Posting) -> list[tuple[Adjudication, dict | None]]:
        out = []
        for adj, origin in zip(posting.unmatched, posting.unmatched_origins):
            if adj.adjudication_id not in self.sent:
                self.sent.add(adj.adjudication_id)
                out.append((adj, origin))
        return out
