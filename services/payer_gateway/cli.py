"""``claimflow x12``: export claims.v1 to 837P files, import 835 / 277CA / 999 files.

Output names files, control numbers, claim ids (opaque hashes) and counts only, never PHI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from services.ops import findings


@click.group("x12")
def x12() -> None:
    """X12 payer gateway: 837P export, 835 / 277CA / 999 import."""


@x12.command("export")
@click.option("--outbox", type=click.Path(file_okay=False), default=None, help="folder for the 837P files (default: CLAIMFLOW_X12_OUTBOX)")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None, help="ledger and control numbers (default: CLAIMFLOW_X12_STATE_DIR)")
@click.option("--timeout", default=30.0, show_default=True, help="seconds to read claims.v1 to its end")
def export(outbox: str | None, state_dir: str | None, timeout: float) -> None:
    """Read claims.v1 from the beginning and write every claim not written yet into 837P files."""
    from pydantic import ValidationError

    from claimflow import topics
    from claimflow.codec import Codec, DecodeError
    from claimflow.kafkaio import read_topic
    from claimflow.models import Claim
    from claimflow.settings import get_settings
    from services.payer_gateway.app import gateway_config
    from services.payer_gateway.writer_837p import export_claims

    settings = get_settings()
    out = Path(outbox) if outbox else Path(settings.x12_outbox)
    state = Path(state_dir) if state_dir else Path(settings.x12_state_dir)
    codec = Codec()
    records = read_topic(topics.CLAIMS.name, settings, timeout=timeout)
    claims, unreadable = [], []
    for rec in records:
        try:
            claims.append(Claim.model_validate(codec.decode(rec.value, topics.CLAIMS.value)))
        except (DecodeError, ValidationError):
            unreadable.append(f"{rec.topic}[{rec.partition}]@{rec.offset}")
    result = export_claims(claims, gateway_config(settings), state, out)
    click.echo(f"claims read {len(records)}: written {len(result.written)}, already written {len(result.duplicates)}, "
               f"rejected {len(result.rejected)}, unreadable {len(unreadable)}; files {len(result.files)} in {out}")
    for f in result.files:
        click.echo(f"  {f.name}")
    for cid, why in result.rejected[:50]:
        click.echo(f"  rejected {cid}: {why}", err=True)
    for where in unreadable[:50]:
        click.echo(f"  unreadable record {where}", err=True)
    if result.rejected or unreadable:
        sys.exit(2)


@x12.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--state-dir", type=click.Path(file_okay=False), default=None, help="ledger used to map 999s onto claims (default: CLAIMFLOW_X12_STATE_DIR)")
@click.option("--dry-run", is_flag=True, help="parse and report only; publish nothing")
@findings.options
def import_(path: str, state_dir: str | None, dry_run: bool, verbose: bool, report: str | None) -> None:
    """Import one X12 file or every file under a folder: adjudications to adjudications.v1,
    status events to claims.status.v1 (keyed by claim id). Broken files or parts are
    reported; the rest still flows."""
    from tqdm import tqdm

    from claimflow import topics
    from claimflow.codec import Codec
    from claimflow.kafkaio import producer
    from claimflow.settings import get_settings
    from services.payer_gateway.importer import iter_files, parse_bytes
    from services.payer_gateway.results import X12Error
    from services.payer_gateway.state import SubmissionLedger
    from services.payer_gateway.importer import ParsedFile

    settings = get_settings()
    ledger = SubmissionLedger(Path(state_dir) if state_dir else Path(settings.x12_state_dir))
    root = Path(path)
    files = iter_files(root)
    codec = Codec()
    prod = None if dry_run else producer(settings)
    counts = {"files": 0, "adjudications": 0, "status_events": 0, "acks": 0, "findings": 0}
    kinds: dict[str, int] = {}
    broken: list[tuple[str, list[X12Error]]] = []
    items: list[findings.Item] = []
    try:
        futures = []
        for f in tqdm(files, unit="file", desc="x12 import", file=sys.stderr):
            source = str(f.relative_to(root)) if root.is_dir() else f.name
            try:
                parsed = parse_bytes(f.read_bytes(), source, claims_for_set=ledger.claims_for_set,
                                     strict=settings.x12_strict_envelope)
            except OSError as exc:
                parsed = ParsedFile(source=source)
                parsed.errors.append(X12Error("file", f"cannot read file: {exc.strerror}", None, b"", source))
            counts["files"] += 1
            kinds[parsed.kind] = kinds.get(parsed.kind, 0) + 1
            counts["adjudications"] += len(parsed.adjudications)
            counts["status_events"] += len(parsed.status_events)
            counts["acks"] += len(parsed.acks)
            counts["findings"] += len(parsed.findings)
            items += findings.x12_items(source, parsed)
            if parsed.errors:
                broken.append((source, parsed.errors))
            if prod is None:
                continue
            for a in parsed.adjudications:
                futures.append(prod.send(topics.ADJUDICATIONS.name, key=a.claim_id.encode(), value=codec.encode(topics.ADJUDICATIONS.value, a.to_avro())))
            for e in parsed.status_events:
                futures.append(prod.send(topics.CLAIMS_STATUS.name, key=e.claim_id.encode(), value=codec.encode(topics.CLAIMS_STATUS.value, e.to_avro())))
        if prod is not None:
            prod.flush()
            for fut in futures:
                fut.get(timeout=30)
    finally:
        if prod is not None:
            prod.close()
    verb = "parsed (dry run)" if dry_run else "published"
    kind_text = ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
    click.echo(f"files {counts['files']} ({kind_text}); {verb}: adjudications {counts['adjudications']}, "
               f"status events {counts['status_events']}; acks {counts['acks']}, findings {counts['findings']}, "
               f"files with errors {len(broken)}")
    findings.emit(items, verbose, report)
    if broken:
        sys.exit(2)
