"""Helpers shared by the pipeline bench scripts (bench/*.py): paths, /proc memory
readings, full-size synthetic scrubber reference data, and the pickled stage inputs.

Nothing here touches real PHI: every record is synthetic."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
VAR_BENCH = REPO / "var" / "bench"
REFDATA_DIR = VAR_BENCH / "refdata"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


def proc_memory(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (current) and VmHWM (peak) of a process in MiB, from /proc/<pid>/status."""
    out = {"rss_mib": 0.0, "hwm_mib": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmHWM:"):
                out["hwm_mib"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def ensure_refdata(pairs: int = 2_000_000, mue: int = 15_000, out: Path = REFDATA_DIR, quiet: bool = False) -> Path:
    """Write the full-size synthetic PTP/MUE tables (bench/scrub_scale.py's generator) in the
    scrubber's normalized loader layout, plus the exported ICD-10-CM set, once. A small
    ``bench-params.json`` records what was generated so a different size regenerates."""
    import scrub_scale  # bench/scrub_scale.py

    want = {"pairs": pairs, "mue": mue, "generator": "scrub_scale.write_tables", "seed": 11}
    marker = out / "bench-params.json"
    if marker.exists() and json.loads(marker.read_text()) == want and (out / "ptp.csv").exists() and any(out.glob("icd10cm_fy*.csv")):
        return out
    out.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    t = time.perf_counter()
    if not quiet:
        print(f"generating full-size synthetic reference data ({pairs:,} PTP pairs, {mue:,} MUE codes) into {out} ...", flush=True)
    scrub_scale.write_tables(out, pairs, mue)
    subprocess.run([sys.executable, "-m", "services.scrubber.refdata_cli", "import", "icd10cm", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    marker.write_text(json.dumps(want))
    if not quiet:
        print(f"reference data ready in {time.perf_counter() - t:.0f}s", flush=True)
    return out


def save_records(path: Path, records: dict[str, list[tuple[str, bytes, bytes]]]) -> None:
    """Stage inputs: {stage: [(topic, key, value), ...]} (encoded, ready to publish)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(records, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_records(path: Path) -> dict[str, list[tuple[str, bytes, bytes]]]:
    with path.open("rb") as fh:
        return pickle.load(fh)  # our own file, written by save_records


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100): the value at rank
    ceil(q/100 * n). (The earlier round(x + 0.5) rounded half to even, so p99 of 100
    values was the maximum.)"""
    import math

    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values) - 1e-9) - 1))
    return sorted_values[k]


def ratio(num: float | None, den: float | None, nd: int = 3) -> float | None:
    """num / den rounded, or None when either side is missing or the denominator is not positive."""
    if num is None or den is None or num != num or den != den or den <= 0:
        return None
    return round(num / den, nd)


def rss_growth(samples: list[tuple[int, float]], lo: int, hi: int, per: int = 100_000) -> dict:
    """RSS (MiB) at ``lo`` and ``hi`` processed records, from (records processed, rss_mib)
    samples taken as a run progressed (the first sample at or past each mark), and the
    growth between them scaled to ``per`` records. Missing marks give None."""
    ordered = sorted(samples)

    def at(mark: int) -> tuple[int, float] | None:
        return next(((n, r) for n, r in ordered if n >= mark), None)

    a, b = at(lo), at(hi)
    out: dict = {"at_lo": a, "at_hi": b, "growth_mib_per": per, "growth_mib": None}
    if a is not None and b is not None and b[0] > a[0]:
        out["growth_mib"] = round((b[1] - a[1]) * per / (b[0] - a[0]), 1)
    return out


def histogram_summary(exposition: str, name: str) -> dict[str, dict]:
    """Per label set of the Prometheus histogram ``name`` in a /metrics text: count, sum,
    mean and the bucket-estimated p50/p95 (upper bound of the bucket holding the rank).
    Parsed with prometheus_client's own text parser. Label sets are rendered
    ``k=v,k=v`` (sorted)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for fam in text_string_to_metric_families(exposition):
        if fam.name != name:
            continue
        for s in fam.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            row = out.setdefault(key, {"count": 0.0, "sum": 0.0})
            if s.name.endswith("_count"):
                row["count"] = s.value
            elif s.name.endswith("_sum"):
                row["sum"] = s.value
            elif s.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
    for key, row in out.items():
        n = row["count"]
        row["mean"] = round(row["sum"] / n, 2) if n else None
        bs = sorted(buckets.get(key, []))
        for q in (50, 95):
            rank = q / 100 * n
            row[f"p{q}_le"] = next((le for le, cum in bs if n and cum >= rank), None)
    return out


def batch_report(scrapes: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Batch sizes achieved per service from two scrapes of the batch histogram
    (``{"saturation": {service: histogram_summary(...)}, "end": {...}}``): the mean over the
    saturation run (count/sum totals of every label set), the bucket p50/p95 of its busiest
    label set, and the mean of what was added between the two scrapes (the latency runs).
    A service whose /metrics has no such histogram reports ``None``."""

    def totals(rows: dict) -> tuple[float, float]:
        rows = {k: v for k, v in (rows or {}).items() if isinstance(v, dict)}
        return sum(v["count"] for v in rows.values()), sum(v["sum"] for v in rows.values())

    out: dict[str, dict] = {}
    sat, end = scrapes.get("saturation", {}), scrapes.get("end", {})
    for svc in sorted(set(sat) | set(end)):
        c1, s1 = totals(sat.get(svc))
        c2, s2 = totals(end.get(svc))
        rows = {k: v for k, v in (sat.get(svc) or {}).items() if isinstance(v, dict)}
        busiest = max(rows.values(), key=lambda v: v["count"], default=None)
        out[svc] = {
            "saturation_batches": int(c1), "saturation_mean": round(s1 / c1, 2) if c1 else None,
            "saturation_p50_le": busiest.get("p50_le") if busiest else None,
            "saturation_p95_le": busiest.get("p95_le") if busiest else None,
            "latency_batches": int(c2 - c1) if c2 >= c1 else None,
            "latency_mean": round((s2 - s1) / (c2 - c1), 2) if c2 > c1 else None,
        }
    return out


def metric_series_count(exposition: str) -> int:
    """Number of sample lines in a /metrics text (label cardinality check)."""
    return sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))


def clone_records(records: list[tuple[str, bytes, bytes]], want: int, claim_topics: tuple[str, ...]) -> list[tuple[str, bytes, bytes]]:
    """Copies of a set of encoded claim-keyed records (claims, held claims, remittances) until
    at least ``want`` of them are on ``claim_topics``: copy 0 is the originals, copy k has every
    claim id, encounter id and adjudication id replaced (wherever the value occurs in the
    record) by an id of its own, the claim id still a valid CLM01 (ids.claim_id)."""
    from claimflow.codec import Codec
    from claimflow.ids import claim_id as make_claim_id
    from claimflow.topics import BY_NAME

    codec = Codec()
    per_copy = sum(1 for t, _, _ in records if t in claim_topics)
    if per_copy == 0:
        raise ValueError("no claims to copy")
    decoded = [(t, codec.decode(v, BY_NAME[t].value)) for t, _, v in records]
    out = list(records)
    k = 1
    while sum(1 for t, _, _ in out if t in claim_topics) < want:
        for t, rec in decoded:
            ids = {}
            for f in ("claim_id", "encounter_id", "adjudication_id"):
                if isinstance(rec.get(f), str):
                    ids[rec[f]] = make_claim_id(f"{rec[f]}~{k}", 1) if f == "claim_id" else f"{rec[f]}~{k}"[:64]
            new = _replace_strings(rec, ids)
            out.append((t, new["claim_id"].encode(), codec.encode(BY_NAME[t].value, new)))
        k += 1
    return out


def _replace_strings(value, ids: dict[str, str]):
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {k: _replace_strings(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, ids) for v in value]
    return value
