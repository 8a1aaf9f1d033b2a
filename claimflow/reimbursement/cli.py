"""``claimflow price``: the expected allowed amount of one code, with every input shown; and
the ``refdata import pfs`` importer it reads from.

    claimflow refdata import pfs ../shared/data/pfs/rvu25d --out var/refdata
    claimflow price 99213 --locality TX-31 --setting nonfacility
    claimflow price 27447 --modifier 50 --locality CA-18 --setting facility --payer BCX22 --date 2025-06-01
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import click

from claimflow.reimbursement import pfs
from claimflow.reimbursement.contracts import DEFAULT_PAYERS_FILE, ContractError, LineInput, Pricer, load_contract_book
from claimflow.reimbursement.pricing import Setting, price_line, setting_for_pos


def import_pfs_to(sources: list[Path], out: Path, version: str | None = None) -> tuple[int, Path, str]:
    """``refdata import pfs DIR --out OUT``: returns (rows, written folder, version)."""
    if len(sources) != 1 or not sources[0].is_dir():
        raise click.UsageError("pfs takes one folder: the unpacked RVU bundle (PPRRVU, GPCI, LOCCO files)")
    try:
        fs = pfs.import_pfs(sources[0], version)
    except pfs.PfsError as exc:
        raise click.ClickException(f"pfs: {exc}") from exc
    return len(fs), pfs.write_pfs(fs, out), fs.info.version


def _fee_schedule(directory: Path | None) -> pfs.FeeSchedule:
    from claimflow.settings import get_settings

    s = get_settings()
    d = directory or s.pfs_dir or s.scrubber_refdata_dir
    if d is None:
        raise click.ClickException("no PFS release: run `claimflow refdata import pfs DIR --out OUT` and pass --pfs OUT (or set CLAIMFLOW_PFS_DIR)")
    try:
        return pfs.load_pfs(d)
    except (pfs.PfsError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command(name="price")
@click.argument("code")
@click.option("--modifier", "modifiers", multiple=True, help="modifier (repeat for several): 26, TC, 50, 62, 80, 82, AS, ...")
@click.option("--locality", required=True, help="Medicare locality as STATE-NN, e.g. CA-18")
@click.option("--setting", type=click.Choice([s.value for s in Setting]), default=None, help="facility or nonfacility practice expense")
@click.option("--pos", default=None, help="place of service code instead of --setting (e.g. 11 office, 22 outpatient hospital)")
@click.option("--units", default=1, show_default=True, type=click.IntRange(1, 9999))
@click.option("--payer", default=None, help="payer id: apply its contract from payers.yaml")
@click.option("--date", "dos", default=None, help="date of service YYYY-MM-DD (chooses the conversion factor)")
@click.option("--charge", default=None, help="line charge: the allowed amount is never above it")
@click.option("--pfs", "pfs_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="folder written by `refdata import pfs` (default CLAIMFLOW_PFS_DIR)")
def price(code: str, modifiers: tuple[str, ...], locality: str, setting: str | None, pos: str | None, units: int,
          payer: str | None, dos: str | None, charge: str | None, pfs_dir: Path | None) -> None:
    """Expected allowed amount of CODE under the Medicare PFS (and a payer's contract)."""
    from decimal import Decimal

    from claimflow.settings import get_settings

    if (setting is None) == (pos is None):
        raise click.UsageError("give exactly one of --setting or --pos")
    chosen = Setting(setting) if setting else setting_for_pos(pos)
    day = datetime.strptime(dos, "%Y-%m-%d").date() if dos else None
    started = time.perf_counter()
    fs = _fee_schedule(pfs_dir)
    cf = get_settings().pfs_cf_choice()
    p = price_line(fs, code, modifiers, locality=locality, setting=chosen, units=units, dos=day, cf=cf)
    echo = click.echo
    echo(f"{p.code}{''.join('-' + m for m in p.modifiers)} x{p.units}  {p.locality}  {p.setting.value}  "
         f"({fs.info.dataset}, {fs.info.version}, CY{fs.info.year})")
    if p.status:
        echo(f"  status {p.status}: {p.status_meaning}")
    if not p.priced:
        echo(f"  NOT PRICED: {p.unpriced_reason}")
    else:
        echo(f"  row            {p.code}{('-' + p.row_modifier) if p.row_modifier else ''}")
        echo(f"  RVUs           work {p.work_rvu}  PE ({p.setting.value}) {p.pe_rvu}  MP {p.mp_rvu}")
        g = fs.gpci(p.locality)
        echo(f"  GPCI           work {p.work_gpci}  PE {p.pe_gpci}  MP {p.mp_gpci}  ({g.name}, MAC {g.mac})")
        echo(f"  CF             {p.conversion_factor} ({p.conversion_factor_source})")
        echo(f"  formula        {p.formula} = {p.fee_schedule_amount} (rounded to the cent)")
        for a in p.adjustments:
            echo(f"  modifier rule  {a.rule} x {a.factor}  [{a.source}]")
        for n in p.notes:
            echo(f"  note           {n}")
        echo(f"  Medicare allowed: {p.amount}" + (f"  (= {p.amount / p.units:.2f} x {p.units} units)" if p.units > 1 else ""))
    if payer:
        try:
            book = load_contract_book(get_settings().reimbursement_payers_file or DEFAULT_PAYERS_FILE)
        except (ContractError, OSError) as exc:
            raise click.ClickException(f"payer contracts: {exc}") from exc
        pricer = Pricer(book, fs, cf)
        line = LineInput(1, code, tuple(modifiers), units, Decimal(charge) if charge else None)
        pos_for_setting = pos or ("22" if chosen is Setting.FACILITY else "11")
        e = pricer.expectations(payer, [line], locality=locality.upper(), place_of_service=pos_for_setting, dos=day or date(fs.info.year, 1, 1))[1]
        echo(f"  payer {payer}: {e.contract_term}")
        if e.amount is None:
            echo(f"  payer expected allowed: none ({e.not_computed_reason})")
        else:
            echo(f"  payer expected allowed: {e.amount}  (tolerance {e.tolerance_amount})")
    echo(f"  ({(time.perf_counter() - started) * 1000:.0f} ms including loading the fee schedule)")
