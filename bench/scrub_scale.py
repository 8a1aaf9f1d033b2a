"""Scrubber scale benchmark (pure logic, no Kafka).

Builds a full-size synthetic NCCI PTP table (2,000,000 pairs) and MUE table (15,000 codes),
writes them in the scrubber's normalized layout, then measures:
  * start-up: ScrubReference.load(DIR) (PTP + MUE + starter sets + ICD-10-CM),
  * resident memory (RSS) after load, and the peak,
  * scrub throughput: claims/second for claims of 3 lines x 4 diagnoses against an
    in-memory ClaimHistory (history updates recorded for every emitted claim).

    .venv/bin/python bench/scrub_scale.py [--pairs 2000000] [--mue 15000] [--claims 20000]

The data is random: code numbers are synthetic, nothing is PHI."""

from __future__ import annotations

import argparse
import csv
import gc
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claimflow.models import (  # noqa: E402
    AdministrativeSex, CodedDiagnosis, CodedEncounter, CodedServiceLine, Coverage, MdmLevel, Patient, PatientStatus,
    PlanType, Provenance, Provider, SubscriberRelationship, VisitType,
)


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB from /proc/self/status (Linux)."""
    cur = peak = 0.0
    try:
        for ln in Path("/proc/self/status").read_text().splitlines():
            if ln.startswith("VmRSS:"):
                cur = int(ln.split()[1]) / 1024
            elif ln.startswith("VmHWM:"):
                peak = int(ln.split()[1]) / 1024
    except OSError:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return cur, peak


def synthetic_codes(rng: random.Random, n: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < n:
        if rng.random() < 0.8:
            codes.add(f"{rng.randint(10000, 99999)}")
        else:
            codes.add(f"{rng.choice('ABCEGHJKLQV')}{rng.randint(0, 9999):04d}")
    return sorted(codes)


def write_tables(out: Path, pairs: int, mue_codes: int, seed: int = 11) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    codes = synthetic_codes(rng, max(mue_codes, 16000))
    col1_codes = codes[: max(1, pairs // 200)]  # ~10,000 column-1 codes x ~200 column-2 codes
    rationales = ["Standards of medical / surgical practice", "Mutually exclusive procedures",
                  "CPT Manual or CMS manual coding instruction", "Misuse of column two code with column one code"]
    sample: list[tuple[str, str]] = []
    written = 0
    with (out / "ptp.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["col1", "col2", "effective", "deletion", "mi", "rationale"])
        per = pairs // len(col1_codes)
        extra = pairs - per * len(col1_codes)
        for i, c1 in enumerate(col1_codes):
            k = per + (1 if i < extra else 0)
            for c2 in rng.sample(codes, k + 1):
                if c2 == c1 or k == 0:
                    continue
                eff = date(2000 + rng.randint(0, 24), rng.choice((1, 4, 7, 10)), 1)
                dele = "" if rng.random() < 0.8 else (eff + timedelta(days=rng.randint(90, 3000))).isoformat()
                w.writerow([c1, c2, eff.isoformat(), dele, rng.choice((0, 1, 1, 1, 9)), rng.choice(rationales)])
                written += 1
                k -= 1
                if rng.random() < 0.0005:
                    sample.append((c1, c2))
    with (out / "mue.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "value", "mai", "rationale", "effective"])
        for c in codes[:mue_codes]:
            w.writerow([c, rng.choice((1, 1, 2, 3, 4, 8, 12)), rng.choice((1, 2, 3)), "Nature of service", "2026-07-01"])
    return col1_codes, sample


def make_claims(n: int, sample: list[tuple[str, str]], codes: list[str], seed: int = 5) -> list[CodedEncounter]:
    rng = random.Random(seed)
    dxs = ["I10", "E11.9", "E78.5", "J06.9", "M54.50", "F41.1", "K21.9", "E66.9", "R51.9", "N39.0"]
    billing = Provider(npi="1234567893", name="Bench Practice", tax_id="123456789")
    rendering = Provider(npi="1245319599", name="Dr. Bench")
    cov = Coverage(payer_id="MCR01", payer_name="Medicare Part B (synthetic)", plan_type=PlanType.MEDICARE, member_id="M1",
                   relationship=SubscriberRelationship.SELF)
    now = datetime(2026, 7, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        c1, c2 = rng.choice(sample)  # a pair that has a PTP row: the lookup path is exercised
        lines = [("99213", ["25"]), (c1, []), (c2, ["XU"] if rng.random() < 0.5 else [])]
        dos = date(2026, 6, 1) + timedelta(days=rng.randint(0, 20))
        out.append(CodedEncounter(
            encounter_id=f"BENCH-{i:07d}", encounter_version=1, coded_at=now,
            patient=Patient(patient_id=f"P{rng.randint(1, n // 3 + 1)}", first_name="B", last_name="B", date_of_birth=date(1955, 3, 3),
                            sex=AdministrativeSex.FEMALE),
            coverage=cov, rendering_provider=rendering, billing_provider=billing, date_of_service=dos, place_of_service="11",
            visit_type=VisitType.OFFICE, patient_status=PatientStatus.ESTABLISHED, total_time_minutes=25, mdm_level=MdmLevel.LOW,
            diagnoses=[CodedDiagnosis(sequence=j, code=c, confidence=1.0, rule_id="B", code_set_version="B")
                       for j, c in enumerate(rng.sample(dxs, 4), 1)],
            service_lines=[CodedServiceLine(line_number=j, code=c, modifiers=m, units=1, charge=Decimal("50.00"),
                                            diagnosis_pointers=[1, 2, 3, 4], provenance=Provenance.DOCUMENTED, confidence=1.0,
                                            rule_id="B", code_set_version="B") for j, (c, m) in enumerate(lines, 1)],
            confidence=1.0, coder_version="bench"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--mue", type=int, default=15_000)
    ap.add_argument("--claims", type=int, default=20_000)
    ap.add_argument("--icd-package", action="store_true",
                    help="load ICD-10-CM from the simple-icd-10-cm package instead of the exported icd10cm_fy2026.csv")
    args = ap.parse_args()

    base_rss, _ = rss_mb()
    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as tmp:
        out = Path(tmp)
        t = time.perf_counter()
        col1, sample = write_tables(out, args.pairs, args.mue)
        gen_s = time.perf_counter() - t
        size_mb = (out / "ptp.csv").stat().st_size / 1e6
        if not args.icd_package:  # export in a child process so the package never enters this one
            import subprocess
            subprocess.run([sys.executable, "-m", "services.scrubber.refdata_cli", "import", "icd10cm", "--out", str(out)],
                           check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
        gc.collect()
        before_load, _ = rss_mb()

        from services.scrubber.history import InMemoryClaimHistory
        from services.scrubber.logic import Scrubber, ScrubReference

        t = time.perf_counter()
        ref = ScrubReference.load(out)
        load_s = time.perf_counter() - t
        gc.collect()
        after_load, peak_load = rss_mb()

    assert len(ref.data.ptp) == args.pairs, (len(ref.data.ptp), args.pairs)
    # PTP lookup micro-benchmark (the table itself)
    ptp = ref.data.ptp
    probe = sample * (200_000 // max(1, len(sample)) + 1)
    probe = probe[:200_000]
    dos = date(2026, 6, 15)
    t = time.perf_counter()
    hits = sum(1 for c1, c2 in probe if ptp.active(c1, c2, dos) is not None)
    lookup_us = (time.perf_counter() - t) / len(probe) * 1e6

    claims = make_claims(args.claims, sample, col1)
    scrubber = Scrubber(ref)
    history = InMemoryClaimHistory()
    now = datetime(2026, 7, 1, tzinfo=timezone.utc)
    held = 0
    t = time.perf_counter()
    for c in claims:
        r = scrubber.scrub(c, history, now)
        if r.held is not None:
            held += 1
        else:
            history.record(r.history_updates)
    scrub_s = time.perf_counter() - t
    end_rss, peak = rss_mb()

    print(f"PTP pairs              : {len(ptp):,} ({len(ptp._index):,} column-1 codes; normalized CSV {size_mb:.0f} MB; generated in {gen_s:.1f}s)")
    print(f"MUE codes              : {len(ref.data.mue):,}")
    icd = "simple-icd-10-cm package" if args.icd_package else "exported icd10cm_fy2026.csv"
    print(f"start-up (load)        : {load_s:.2f} s  (ScrubReference.load: PTP + MUE + starter sets + ICD-10-CM from {icd})")
    print(f"RSS before load        : {before_load:.0f} MiB (interpreter + models, baseline {base_rss:.0f} MiB)")
    print(f"RSS after load         : {after_load:.0f} MiB (+{after_load - before_load:.0f} MiB for reference data); peak during load {peak_load:.0f} MiB")
    print(f"PTP table arrays       : {(ptp._col2.itemsize * len(ptp._col2) + ptp._meta.itemsize * len(ptp._meta)) / 2**20:.0f} MiB packed")
    print(f"PTP lookup             : {lookup_us:.2f} us per active() call ({hits:,}/{len(probe):,} hits)")
    print(f"scrub throughput       : {len(claims) / scrub_s:,.0f} claims/s ({len(claims):,} claims, 3 lines x 4 dx, {held:,} held) in {scrub_s:.2f}s")
    print(f"RSS at end             : {end_rss:.0f} MiB (peak {peak:.0f} MiB)")


if __name__ == "__main__":
    main()
