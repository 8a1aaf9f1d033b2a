"""``claimflow users ...`` and ``claimflow workbench ...`` commands."""

from __future__ import annotations

import secrets
import sys

import click

from services.workbench.roles import ROLES


@click.group()
def users() -> None:
    """Workbench users and their roles."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", type=click.Choice(ROLES), multiple=True, required=True, help="repeat for several roles")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input instead of generating one")
@click.option("--no-forced-change", is_flag=True,
              help="do not make the user change this password at first login (accounts whose password its owner chose)")
def users_add(name: str, roles: tuple[str, ...], password_stdin: bool, no_forced_change: bool) -> None:
    """Create (or reset) user NAME with the given role(s); prints a generated one-time password,
    which the user must change at first login before any other page."""
    from services.workbench.django_setup import migrate

    migrate()
    from django.contrib.auth.models import Group, User
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    try:
        validate_password(password)
    except ValidationError as exc:
        raise click.ClickException("; ".join(exc.messages)) from None
    user, created = User.objects.get_or_create(username=name)
    user.set_password(password)  # Django's password hasher (PBKDF2 by default)
    user.is_active = True
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    from services.workbench.models import PasswordState

    PasswordState.objects.update_or_create(user=user, defaults={"must_change": not no_forced_change, "changed_at": None})
    click.echo(f"{'created' if created else 'updated'} user {name} with role(s) {', '.join(roles)}")
    if not password_stdin:
        click.echo(f"one-time password: {password} (to be changed at first login)")
    elif not no_forced_change:
        click.echo("the password must be changed at first login")


@click.group()
def workbench() -> None:
    """The workbench web app and its projector."""


@workbench.command("migrate")
def wb_migrate() -> None:
    """Create or upgrade the read model's schema (Django migrations)."""
    from services.workbench.django_setup import migrate

    migrate(verbosity=1)


@workbench.command("serve")
def wb_serve() -> None:
    """Serve the web app (waitress) on http_host:port_workbench_web."""
    from claimflow.settings import get_settings
    from services.workbench.django_setup import pending_migrations

    pending = pending_migrations()  # the projector migrates; two processes migrating a fresh database would race
    if pending:
        raise click.ClickException(f"the read model's schema is not migrated ({len(pending)} pending): "
                                   "run `claimflow workbench migrate` first")
    import signal

    import waitress

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # a clean stop for process managers

    from services.workbench import codes
    from services.workbench.site.wsgi import application

    codes.reference()  # the code sets load once, before the first page (seconds, not per request)

    s = get_settings()
    if s.http_host not in ("127.0.0.1", "localhost", "::1"):
        click.echo("workbench bound beyond loopback: sessions and CSRF cookies are Secure (serve it behind TLS)", err=True)
    click.echo(f"workbench on http://{s.http_host}:{s.port_workbench_web}/")
    waitress.serve(application, host=s.http_host, port=s.port_workbench_web, threads=8, ident="claimflow-workbench")


@workbench.command("project")
def wb_project() -> None:
    """Run the projector (topics -> read model) until SIGTERM."""
    from services.workbench.projector import run

    run()
