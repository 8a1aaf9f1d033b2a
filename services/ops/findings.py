"""Every count has its list: the warnings, findings and rejects behind the counts that
`ingest fhir`, `x12 import` and `publish` print, each with where it is, never with record
content (locations are file names, entry indexes, segment positions, line numbers, FHIRPath
expressions; messages are the ones our code writes without input values).

``--verbose`` prints each one on stderr; ``--report FILE`` writes them as JSON lines."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import click


@dataclass(frozen=True)
class Item:
    kind: str  # error | warning | ignored | finding | rejected | info
    file: str
    location: str
    code: str
    message: str


def fhir_items(outcomes) -> list[Item]:
    out = []
    for o in outcomes:
        name = Path(o.source).name
        where = f"entry {o.index}" if o.index >= 0 else "bundle"
        if o.resource_type:
            where += f" ({o.resource_type})"
        if o.status in ("error", "ignored"):
            out.append(Item(o.status, name, where + (f" {', '.join(o.expression)}" if o.expression else ""), o.code, o.reason))
        for issue in o.issues:
            if issue.severity in ("warning", "error"):
                loc = where + (f" {', '.join(issue.expression)}" if issue.expression else "")
                out.append(Item("warning" if issue.severity == "warning" else "error", name, loc, issue.code, issue.diagnostics))
    return out


def x12_items(source: str, parsed) -> list[Item]:
    out = []
    for e in parsed.errors:
        loc = f"segment {e.position}" if e.position else "file"
        if e.control_number:
            loc += f" ST02 {e.control_number}"
        out.append(Item("error", source, loc, e.level, e.reason))
    for f in parsed.findings:
        loc = f"segment {f.position}" if f.position else "file"
        if f.control_number:
            loc += f" ST02 {f.control_number}"
        if f.claim_id:
            loc += f" claim {f.claim_id}"
        out.append(Item("finding", source, loc, f"{f.code} ({f.severity})", f.message))
    return out


def publish_items(file: str, rejected: Iterable[tuple[int, str]]) -> list[Item]:
    return [Item("rejected", Path(file).name, f"line {n}", "invalid", why) for n, why in rejected]


def emit(items: list[Item], verbose: bool, report: str | None, shown_by_default: Iterable[str] = ("error", "rejected"),
         default_limit: int = 50) -> None:
    """Each item on stderr with --verbose (else the first errors only, as before), and all of
    them to the --report file."""
    shown = 0
    for it in items:
        if verbose or (it.kind in shown_by_default and shown < default_limit):
            click.echo(f"  {it.file} {it.location}: {it.kind} {it.code}: {it.message}", err=True)
            shown += 1
    hidden = sum(1 for it in items) - shown
    if hidden and not verbose and not report:
        click.echo(f"  ({hidden} more warnings/findings: --verbose lists them, --report FILE writes them)", err=True)
    if report:
        with open(report, "w", encoding="utf-8") as fh:
            for it in items:
                fh.write(json.dumps(asdict(it)) + "\n")
        click.echo(f"report: {len(items)} item(s) in {report}", err=True)


def options(fn):
    fn = click.option("--report", "report", type=click.Path(dir_okay=False), default=None,
                      help="write every warning, finding and reject as JSON lines to FILE (locations, no patient data)")(fn)
    fn = click.option("--verbose", "-v", is_flag=True, help="list every warning, finding and reject on stderr")(fn)
    return fn
