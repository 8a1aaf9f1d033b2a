"""Expected-reimbursement pricing on one core, with the full CMS PPRRVU loaded.

Figures printed:
  * import: seconds to import the RVU bundle (PPRRVU TXT + CSV cross-check, GPCI, LOCCO) and to
    load the normalized release the services read;
  * memory: RSS growth (MiB) of loading the normalized release (fee schedule in memory), and
    tracemalloc's count of bytes the loaded objects hold;
  * pricing: claims/s and lines/s of Pricer.annotate (PFS formula, modifier rules, MPPR and
    the payer's contract) over synthetic claims from the encounter generator, payers and
    localities as the demo practice bills them.

Needs the RVU bundle (default ../shared/data/pfs/rvu25d); without it the script says so and
exits 2 (there is no synthetic stand-in for the fee schedule).

    .venv/bin/python bench/pricing_bench.py [--rvu DIR] [--claims 5000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import common  # noqa: F401  (sys.path for the repo)
from common import proc_memory

from claimflow.reimbursement import pfs
from claimflow.reimbursement.contracts import Pricer, load_contract_book

DEFAULT_RVU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pfs" / "rvu25d"


def claims_for(count: int):
    from claimflow.models import Claim, ServiceLine
    from claimflow.synthetic import EncounterGenerator
    from claimflow.models import utcnow

    gen = EncounterGenerator(seed=31, defect_rate=0.0)
    now = utcnow()
    out = []
    for i in range(count):
        enc, _ = gen.encounter(i)
        lines = [ServiceLine(line_number=n + 1, procedure_code=p.code or "99213", modifiers=list(p.modifiers), units=p.units,
                             charge=p.charge or 100, diagnosis_pointers=[1]) for n, p in enumerate(enc.procedures)]
        out.append(Claim(claim_id=f"B{i}", encounter_id=enc.encounter_id, encounter_version=1, created_at=now, patient=enc.patient,
                         coverage=enc.coverage, rendering_provider=enc.rendering_provider, billing_provider=enc.billing_provider,
                         date_of_service=enc.date_of_service, place_of_service=enc.place_of_service, diagnoses=["Z00.00"],
                         lines=lines, total_charge=sum((l.charge for l in lines), 0)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rvu", type=Path, default=DEFAULT_RVU)
    ap.add_argument("--claims", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.rvu.is_dir():
        print(f"pricing bench needs the CMS RVU bundle at {args.rvu} (not present): nothing measured", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    t = time.perf_counter()
    fs = pfs.import_pfs(args.rvu)
    import_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        pfs.write_pfs(fs, tmp)
        del fs
        gc.collect()
        before = proc_memory()["rss_mib"]
        t = time.perf_counter()
        fs = pfs.load_pfs(tmp)
        load_s = time.perf_counter() - t
        gc.collect()
        after = proc_memory()["rss_mib"]
        tracemalloc.start()  # a second load, traced: bytes the loaded objects hold
        traced_fs = pfs.load_pfs(tmp)
        traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced_fs
    claims = claims_for(args.claims)
    pricer = Pricer(load_contract_book(), fs)
    lines = sum(len(c.lines) for c in claims)
    for c in claims[:200]:  # warm-up
        pricer.annotate(c)
    gc.collect()
    t = time.perf_counter()
    priced = [pricer.annotate(c) for c in claims]
    price_s = time.perf_counter() - t
    with_amount = sum(1 for c in priced for l in c.lines if l.expected_allowed.amount is not None)
    figures = {
        "dataset": fs.info.version, "pprrvu_rows": len(fs), "localities": len(fs.gpcis),
        "import_seconds": round(import_s, 2), "load_normalized_seconds": round(load_s, 2),
        "fee_schedule_rss_mib": round(after - before, 1), "fee_schedule_traced_mib": round(traced / 2**20, 1),
        "claims": len(claims), "lines": lines, "lines_with_expectation": with_amount,
        "claims_per_second": round(len(claims) / price_s), "lines_per_second": round(lines / price_s),
        "cpu_count_used": 1, "process_cpu_seconds": round(time.process_time(), 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for k, v in figures.items():
            print(f"{k:26} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
