"""The adjudicator's sweep reads the ledger in one pass (logic.sweep_scan): the same gauges as
appeal_backlog/underpayment_backlog, from an iterator, keeping only the entries with
something to expire. It used to hold a list of every ledger entry (~10 KB of Python objects
each) every 30 s, which made the adjudicator's RSS grow with the ledger (issue 20)."""

from __future__ import annotations

from datetime import timedelta

from services.adjudicator.logic import (Policy, appeal_backlog, apply_adjudication, apply_claim, post, sweep_scan,
                                        underpayment_backlog)
from tests.unit.adjudicator.adj_helpers import NOW, REMIT, D, adj_code, line, make_adj, make_claim


def _ledger() -> list[dict | None]:
    entries: list[dict | None] = []
    for i, (amount, age) in enumerate((("100.00", 115), ("250.00", 0), ("75.50", 40))):
        denial = make_adj(cid=f"C{i}", status="4", charge=amount, remit=NOW.date() - timedelta(days=age),
                          lines=[line(1, "99214", amount, "0.00", [adj_code("CO-50", amount)])])
        entries.append(post(None, denial, NOW).entry)
    waiting = make_adj(cid="C-WAIT", status="1", charge="80.00", paid="80.00")  # a remittance before its claim
    entries.append(apply_adjudication(None, waiting, NOW, Policy(pending_ttl=timedelta(hours=72))).entry)
    claim = make_claim(lines=[("99213", "200.00")])
    entries.append(apply_claim(None, claim, NOW, Policy()).entry)
    entries.append(None)  # a deleted key
    return entries


def test_one_pass_gives_the_backlog_figures_of_the_list_functions():
    entries = _ledger()
    scan = sweep_scan(iter(entries), NOW.date())  # a one-shot iterator: a second pass would see nothing
    assert scan.scanned == len(entries)
    assert scan.backlog == appeal_backlog(entries, NOW.date())
    assert scan.open_underpayments == underpayment_backlog(entries)
    assert scan.backlog["open_items"] == 3
    assert sum(scan.backlog["dollars_at_risk"].values()) == D("425.50")
    assert scan.backlog["pending_remittances"] == 1


def test_only_entries_with_something_to_expire_are_kept():
    entries = _ledger()
    scan = sweep_scan((e for e in entries), REMIT)
    assert len(scan.due) == 1
    assert scan.due[0] is entries[3] and scan.due[0]["pending"]
    parked = dict(entries[4], parked_outcomes=[{"expires_at": NOW.isoformat(), "outcome": {}}])
    assert sweep_scan([parked], REMIT).due == [parked]


def test_the_staged_ledger_is_read_lazily_outside_a_batch():
    """The sweep's ledger.values() goes through claimflow.staging.StagedTable: it must not
    build a list of the whole table first."""
    from claimflow.staging import StagedTable

    produced = []

    class Table(dict):
        def items(self):
            for k, v in super().items():
                produced.append(k)
                yield k, v

    t = StagedTable(Table({f"C{i}": {"n": i} for i in range(1000)}))
    values = t.values()
    assert next(values) == {"n": 0}
    assert produced == ["C0"]  # one entry decoded, not a thousand
    assert len(t) == 1000 and sorted(t.keys())[:2] == ["C0", "C1"]
