"""``claimflow ingest fhir FILE|DIR``: map FHIR R4 Bundles to EncounterEvents and publish
the new or changed ones to encounters.v1 (shares the gateway's dedupe store, so
re-ingesting the same files publishes nothing). Output: counts and file names only."""

from __future__ import annotations

import sys

import click

from services.ops import findings


@click.group("ingest")
def ingest() -> None:
    """Ingest files from EHR exports."""


@ingest.command("fhir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--reference", "references", multiple=True, type=click.Path(exists=True),
              help="bundles used only to resolve references (e.g. Synthea practitioner/hospital files)")
@click.option("--dry-run", is_flag=True, help="map and report only; publish nothing")
@findings.options
def ingest_fhir(paths: tuple[str, ...], references: tuple[str, ...], dry_run: bool, verbose: bool, report: str | None) -> None:
    """Publish the encounters of FHIR Bundle FILE(s) / DIR(s) (recursive *.json)."""
    from tqdm import tqdm

    from claimflow.settings import get_settings
    from services.fhir_gateway.app import EncounterPublisher
    from services.fhir_gateway.ingest import ingest_paths

    settings = get_settings()
    refs = list(references) or ([settings.fhir_reference_dir] if settings.fhir_reference_dir else [])
    result = ingest_paths(paths, source_system=settings.fhir_source_system, reference_paths=refs)
    summary = result.summary
    published = unchanged = 0
    if not dry_run and result.events:
        from claimflow.reach import preflight

        preflight(settings)  # before the progress bar: a broker that is down is one line, not a bar and a line
        publisher = EncounterPublisher(settings)
        try:
            with tqdm(total=len(result.events), unit="enc", desc="publish encounters", file=sys.stderr) as bar:
                counts = publisher.publish(result.events, result.fingerprints, progress=bar.update)
                bar.update(len(result.events) - bar.n)
        finally:
            publisher.close()
        published, unchanged = counts.published, counts.unchanged
    if dry_run and result.events:  # the same dedupe verdicts the real run will reach, from the same store
        from services.fhir_gateway.app import DedupeStore

        store = DedupeStore.for_settings(settings)
        try:
            todo, unchanged = store.plan(result.events, result.fingerprints)
        finally:
            store.close()
        published = len(todo)
    verb = "would publish (dry run)" if dry_run else "published"
    click.echo(f"files {summary['files']}: encounters found {len(result.events)}, {verb} {published}, "
               f"unchanged {unchanged}, errors {summary['errors']} (file errors {summary['file_errors']}), "
               f"ignored entries {summary['ignored']}, warnings {summary['warnings']}")
    findings.emit(findings.fhir_items(result.outcomes), verbose, report)
    if summary["errors"]:
        sys.exit(2)
