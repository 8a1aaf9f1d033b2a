"""The fault table of `make reliability`: every reliability test records one row per
fault it injected; `python -m tests.reliability.report` prints them as a table.

Rows are JSON lines in ``$CLAIMFLOW_RELIABILITY_REPORT`` (default
var/reliability/results.jsonl); the file is truncated at the start of a test session."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def report_path() -> Path:
    return Path(os.environ.get("CLAIMFLOW_RELIABILITY_REPORT", REPO_ROOT / "var" / "reliability" / "results.jsonl"))


@dataclass
class FaultOutcome:
    fault: str                      # what was injected, e.g. "SIGKILL scrubber mid-stream"
    events_in: int                  # good events published
    outcomes_out: int               # distinct events with an outcome downstream
    lost: int                       # events with no outcome (must be 0)
    duplicated_submissions: int     # claim ids submitted twice (must be 0)
    dlq: int                        # records on dead-letter topics
    recovery_seconds: float | None  # fault -> pipeline progressing again (None: not applicable)
    detail: dict = field(default_factory=dict)


def reset() -> None:
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def record(outcome: FaultOutcome) -> None:
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(asdict(outcome), default=str) + "\n")


def load(path: Path | None = None) -> list[dict]:
    path = path or report_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


COLUMNS = ("fault", "events_in", "outcomes_out", "lost", "duplicated_submissions", "dlq", "recovery_seconds")
HEADERS = ("fault injected", "events in", "outcomes out", "lost", "dup. submissions", "DLQ", "recovery s")


def table(rows: list[dict]) -> str:
    def cell(row, col):
        v = row.get(col)
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.1f}"
        return str(v)

    cells = [HEADERS] + [tuple(cell(r, c) for c in COLUMNS) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    rows = load(Path(argv[0]) if argv else None)
    if not rows:
        print(f"no reliability results in {report_path()}")
        return 1
    print(table(rows))
    bad = [r for r in rows if r.get("lost") or r.get("duplicated_submissions")]
    print(f"\n{len(rows)} faults injected; {len(bad)} with lost events or duplicate submissions")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
