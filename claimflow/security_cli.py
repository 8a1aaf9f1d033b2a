"""Security commands: ``claimflow kafka acls`` (per-service Kafka ACLs generated from the
topic catalog) and ``claimflow tokens`` (per-user HTTP bearer tokens).

    claimflow kafka acls show --plan     the rules the catalog implies (no cluster needed)
    claimflow kafka acls show            the rules the cluster holds for claimflow's principals
    claimflow kafka acls apply           make the cluster match the plan (create missing,
                                         remove stale ALLOW rules of claimflow's principals)

``apply`` and ``show`` connect with the CLAIMFLOW_KAFKA_* settings, which must name a
super user of the cluster (ACL changes are not granted to any service principal).

    claimflow tokens new PRINCIPAL --role ROLE
                                         a fresh token (shown once) and its token-table line
    claimflow tokens hash                the table line for a token read from stdin"""

from __future__ import annotations

import sys

import click

from claimflow import acls
from claimflow.settings import get_settings


@click.group("acls")
def acls_group() -> None:
    """Per-service Kafka ACLs generated from the topic catalog."""


@acls_group.command("show")
@click.option("--plan", "plan_only", is_flag=True, help="print the generated rules without asking the cluster")
def show(plan_only: bool) -> None:
    settings = get_settings()
    want = acls.plan(settings.app_id_prefix)
    if plan_only:
        for rule in want:
            click.echo(str(rule))
        click.echo(f"{len(want)} rules for {len(acls.PRINCIPALS)} principals")
        return
    from claimflow.admin import admin_client

    admin = admin_client(settings)
    try:
        have = acls.applied(admin)
    finally:
        admin.close()
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    for rule in have:
        click.echo(("  " if rule in want else "+ ") + str(rule))
    for rule in missing:
        click.echo("- " + str(rule))
    click.echo(f"{len(have)} rules on the cluster; {len(missing)} missing, {len(extra)} not in the plan")
    sys.exit(0 if not missing and not extra else 1)


@acls_group.command("apply")
@click.option("--no-prune", is_flag=True, help="only add missing rules; keep rules the plan does not grant")
def apply_cmd(no_prune: bool) -> None:
    settings = get_settings()
    from claimflow.admin import admin_client

    admin = admin_client(settings)
    try:
        report = acls.apply(admin, settings.app_id_prefix, prune=not no_prune)
    finally:
        admin.close()
    click.echo(f"created {len(report.created)}, removed {len(report.deleted)}, unchanged {len(report.kept)}")


@click.group("tokens")
def tokens_group() -> None:
    """Per-user HTTP bearer tokens (the services keep only their SHA-256)."""


@tokens_group.command("new")
@click.argument("principal")
@click.option("--role", required=True, help="e.g. biller, coder, auditor, ehr")
def tokens_new(principal: str, role: str) -> None:
    """Print a new token for PRINCIPAL (give it to that person only) and the line to add
    to the token table (CLAIMFLOW_HTTP_TOKENS / CLAIMFLOW_HTTP_TOKENS_FILE)."""
    from claimflow.httpauth import TokenTableError, new_token, table_line

    token = new_token()
    try:
        line = table_line(token, principal, role)
    except TokenTableError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token (shown once): {token}", err=True)
    click.echo(line)


@tokens_group.command("hash")
@click.argument("principal")
@click.option("--role", required=True)
def tokens_hash(principal: str, role: str) -> None:
    """The token-table line for an existing token read from stdin."""
    from claimflow.httpauth import table_line

    token = click.get_text_stream("stdin").readline().strip()
    if not token:
        raise click.ClickException("no token on stdin")
    click.echo(table_line(token, principal, role))
