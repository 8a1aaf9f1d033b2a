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
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]
