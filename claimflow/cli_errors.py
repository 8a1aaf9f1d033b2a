"""How the ``claimflow`` command line fails: one line on stderr and a documented exit code,
never a traceback or a pydantic dump.

| exit | meaning |
| --- | --- |
| 1 | an input error (``CliError``, an invalid record) |
| 2 | a usage error (unknown option, a value out of range: click's own code) |
| 2 | also: the command ran but rejected some input (lines, files, bundles); they are listed |
| 3 | Kafka cannot be reached (``claimflow.reach``) |
| 4 | the demo cannot have the ports it needs |

``ClaimflowGroup`` is the class of the top-level group: it turns the known failures into
that line and turns the Kafka probe on for every command but ``run`` (a service probes
once at start and then keeps retrying on its own, as Faust does)."""

from __future__ import annotations

import click
from pydantic import ValidationError

from claimflow.reach import UNREACHABLE_EXIT_CODE, KafkaUnreachable, enable_preflight

PORT_TAKEN_EXIT_CODE = 4


class CliError(click.ClickException):
    """A one-line error with an exit code of its own."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _kafka_lost(exc: BaseException) -> bool:
    """Kafka client failures that mean the brokers went away during the command."""
    from kafka import errors

    lost = tuple(getattr(errors, n) for n in ("NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError")
                 if hasattr(errors, n))  # kafka-python 2.x and 3.x name them differently
    if isinstance(exc, lost):
        return True
    # kafkaio's deadline on a stuck client call
    return isinstance(exc, TimeoutError) and "did not finish within" in str(exc)


class ClaimflowGroup(click.Group):
    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        if name != "run":
            enable_preflight()
        return name, cmd, rest

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.UsageError as exc:  # bad option values: the reason and where to look, on one line
            path = exc.ctx.command_path if exc.ctx else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see `{path} --help`)", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        except KafkaUnreachable as exc:
            click.echo(f"error: {exc}", err=True)
            raise click.exceptions.Exit(UNREACHABLE_EXIT_CODE) from None
        except ValidationError as exc:
            from claimflow.models import safe_errors

            click.echo(f"error: invalid input: {safe_errors(exc)}", err=True)
            raise click.exceptions.Exit(1) from None
        except click.ClickException:
            raise
        except Exception as exc:
            if not _kafka_lost(exc):
                raise
            from claimflow.settings import get_settings

            click.echo(f"error: {KafkaUnreachable(get_settings().kafka_bootstrap)} ({type(exc).__name__})", err=True)
            raise click.exceptions.Exit(UNREACHABLE_EXIT_CODE) from None
