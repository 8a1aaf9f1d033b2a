"""Peak Python memory of one adjudicator sweep over a ledger of N claims (no Kafka): the old
sweep (a list of every decoded entry) against logic.sweep_scan (one pass), over the same
JSON-encoded entries a Faust table returns (tracemalloc peak, MiB).

    .venv/bin/python bench/sweep_memory.py [--claims 20000,100000]"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from datetime import timedelta

import common  # noqa: F401  (sys.path for the repo)


def ledger_values(n: int) -> list[bytes]:
    """n ledger entries as stored: claim + remittance posted through the real logic, copied
    under fresh claim ids (JSON, like the table's value serializer)."""
    from claimflow.models import utcnow
    from services.adjudicator.logic import Policy, apply_adjudication, apply_claim
    from services.payer_sim.logic import SimConfig, adjudicate
    from tests.unit.adjudicator.adj_helpers import make_claim

    policy, now = Policy(pending_ttl=timedelta(hours=72)), utcnow()
    base = []
    for i in range(50):
        c = make_claim(lines=[("99213", "120.00"), ("99214", "180.00")]).model_copy(update={"claim_id": f"CL{i:05d}"})
        e = apply_claim(None, c, now, policy).entry
        e = apply_adjudication(e, adjudicate(c, SimConfig(seed=i)), now, policy).entry
        base.append(json.dumps(e, default=str))
    return [base[i % 50].replace('"CL', f'"X{i}-', 1).encode() for i in range(n)]


def peak(fn) -> float:
    tracemalloc.start()
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(top / 2**20, 1)


def main() -> None:
    from claimflow.models import utcnow
    from services.adjudicator.logic import appeal_backlog, sweep_scan, underpayment_backlog

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", default="20000,100000")
    args = ap.parse_args()
    today = utcnow().date()
    print(f"{'claims':>8} {'old sweep peak MiB':>20} {'one-pass peak MiB':>18}")
    for n in (int(x) for x in args.claims.split(",")):
        stored = ledger_values(n)

        def old():
            entries = [json.loads(v) for v in stored]
            appeal_backlog(entries, today)
            underpayment_backlog(entries)

        def new():
            sweep_scan((json.loads(v) for v in stored), today)

        print(f"{n:>8} {peak(old):>20} {peak(new):>18}")


if __name__ == "__main__":
    main()
