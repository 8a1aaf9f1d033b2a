"""``refdata`` click group: import official reference files into the scrubber's normalized
layout. Hook it into the main CLI with ``cli.add_command(refdata)``.

    refdata import ptp  ccipra-v322r0-f1.txt [more files or a .zip] --out DIR
    refdata import mue  MCR_MUE_PractitionerServices_Eff_07-01-2026.csv --out DIR
    refdata import addon AOC_V2026Q3.txt --out DIR  (the CMS add-on code file as TXT/CSV)
    refdata import hcpcs hcpcs_2025_oct.csv --out DIR
    refdata import mce  mce/ --out DIR            (a folder imports every version)
    refdata import carc carc.csv --out DIR
    refdata import rarc rarc.csv --out DIR
    refdata import icd10cm --out DIR              (the installed simple-icd-10-cm, FY2026)
    refdata import icd10cm icd10cm_order_2025.txt --fy 2025 --out DIR
    refdata import pfs  rvu25d/ --out DIR          (Medicare PFS RVU bundle: PPRRVU, GPCI, LOCCO)
    refdata show DIR

Start the scrubber with DIR (``ScrubReference.load(DIR)``); anything not imported stays on
the starter set."""

from __future__ import annotations

import time
from pathlib import Path

import click

from services.scrubber import refdata as rd

KINDS = ("ptp", "mue", "addon", "hcpcs", "mce", "carc", "rarc", "icd10cm", "pfs")


def run_import(kind: str, sources: list[Path], out: Path, version: str | None = None, fy: int | None = None) -> tuple[int, Path, str]:
    """Import ``sources`` of ``kind`` into ``out``; returns (rows, written file, version)."""
    if kind == "icd10cm":
        if sources:
            if fy is None:
                raise click.UsageError("icd10cm from a CMS order file needs --fy")
            cs = rd.import_icd10cm_order(sources[0], fy, version)
        else:  # the installed simple-icd-10-cm release
            cs, fy = rd.simple_icd10cm_code_set(), fy or rd.SIMPLE_ICD10CM_FY
        return len(cs.codes), rd.write_icd10cm(cs, out, fy), cs.version
    if kind == "pfs":  # Medicare PFS RVU bundle folder (claimflow/reimbursement)
        from claimflow.reimbursement.cli import import_pfs_to

        return import_pfs_to(sources, out, version)
    if not sources:
        raise click.UsageError(f"{kind} needs a source file")
    if kind == "ptp":
        t = rd.import_ptp(sources, version)
        return len(t), rd.write_ptp(t, out), t.info.version
    if len(sources) != 1 and kind != "mce":
        raise click.UsageError(f"{kind} takes exactly one source file")
    if kind == "mue":
        t = rd.import_mue(sources[0], version)
        return t.info.rows, rd.write_mue(t, out), t.info.version
    if kind == "addon":
        t = rd.import_addon(sources[0], version)
        return t.info.rows, rd.write_addon(t, out), t.info.version
    if kind == "hcpcs":
        t = rd.import_hcpcs(sources[0], version)
        return len(t), rd.write_hcpcs(t, out), t.info.version
    if kind == "mce":
        t = rd.import_mce(sources)
        return t.rows(), rd.write_mce(t, out), t.info.version
    if kind in ("carc", "rarc"):
        t = (rd.import_carc if kind == "carc" else rd.import_rarc)(sources[0], version)
        return len(t), rd.write_code_list(t, out, kind), t.info.version
    raise click.UsageError(f"unknown dataset {kind}")


@click.group(name="refdata")
def refdata() -> None:
    """Reference data for the scrubber (NCCI PTP, MUE, HCPCS, MCE, CARC/RARC)."""


@refdata.command(name="import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("src", nargs=-1, required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="folder for normalized files")
@click.option("--version", "version", default=None, help="dataset version (default: taken from the file name)")
@click.option("--fy", "fy", type=int, default=None, help="icd10cm only: fiscal year of the code set")
def import_cmd(kind: str, src: tuple[Path, ...], out: Path, version: str | None, fy: int | None) -> None:
    """Import official SRC file(s) of KIND into the normalized folder --out.

    icd10cm: SRC is a CMS icd10cm_order_YYYY.txt file with --fy, or nothing to export the
    installed simple-icd-10-cm release."""
    started = time.monotonic()
    try:
        from services.ops.progress import working

        with working(f"import {kind}", f"{sum(p.stat().st_size for p in src if p.is_file()) / 1e6:.1f} MB"):
            rows, path, ver = run_import(kind, list(src), out, version, fy)
    except rd.RefDataError as exc:
        raise click.ClickException(f"{kind}: {exc}") from exc
    click.echo(f"{kind}: {rows} rows, version {ver} -> {path} ({time.monotonic() - started:.1f}s)")


@refdata.command(name="show")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def show_cmd(directory: Path) -> None:
    """List the datasets imported into DIRECTORY (from its manifest)."""
    manifest = rd.read_manifest(directory)
    if not manifest:
        click.echo("no imported datasets (the scrubber will use its starter sets)")
    for key, info in sorted(manifest.items()):
        click.echo(f"{key:6} {info.name:20} version={info.version} rows={info.rows} imported_at={info.imported_at}")


if __name__ == "__main__":  # pragma: no cover
    refdata()
