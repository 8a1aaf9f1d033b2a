"""The ``claimflow`` command line."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import click

from claimflow.cli_errors import ClaimflowGroup
from claimflow.settings import get_settings
from claimflow_app.runner import run_help


@click.group(cls=ClaimflowGroup)
def main() -> None:
    """claimflow: event-driven medical billing and coding on Apache Kafka."""


# --- kafka ------------------------------------------------------------------------------


@main.group()
def kafka() -> None:
    """Run a local single-node KRaft Apache Kafka broker (jars from Maven Central)."""


@kafka.command("fetch")
def kafka_fetch() -> None:
    """Resolve the broker jars with Maven into the cache."""
    from claimflow.kafka_local import fetch_jars, lib_dir
    from services.ops.progress import working

    settings = get_settings()
    if not (lib_dir(settings) / f"kafka_2.13-{settings.kafka_version}.jar").exists():
        click.echo(f"resolving Kafka {settings.kafka_version} jars from Maven Central (first time only, about a minute) ...", err=True)
    with working("mvn dependency:copy-dependencies"):
        libs = fetch_jars(settings)
    click.echo(f"kafka jars in {libs}")


@kafka.command("up")
def kafka_up() -> None:
    """Start the broker (format storage on first start) and wait until it is ready."""
    from claimflow.kafka_local import default_broker

    broker = default_broker()
    t0 = time.monotonic()
    broker.start()
    click.echo(f"kafka {get_settings().kafka_version} ready on {broker.bootstrap} in {time.monotonic() - t0:.1f}s (pid {broker.pid()}, logs {broker.log_file})")


@kafka.command("down")
@click.option("--purge", is_flag=True, help="also delete the broker's data folder")
def kafka_down(purge: bool) -> None:
    """Stop the broker cleanly (SIGTERM, then SIGKILL after 30 s)."""
    from claimflow.kafka_local import default_broker

    broker = default_broker()
    broker.destroy() if purge else broker.stop()
    click.echo("kafka stopped" + (" and purged" if purge else ""))


@kafka.command("status")
def kafka_status() -> None:
    from claimflow.kafka_local import default_broker

    broker = default_broker()
    pid = broker.pid()
    click.echo(f"kafka running on {broker.bootstrap} (pid {pid})" if pid else "kafka not running")
    sys.exit(0 if pid else 1)


# --- topics -----------------------------------------------------------------------------


@main.group()
def topics() -> None:
    """Topic catalog (claimflow/topics.py; deploy/topics.yaml is generated from it)."""


@topics.command("create")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a rendered catalog file (deploy/topics.yaml format) instead of the built-in catalog")
def topics_create(catalog: Path | None) -> None:
    """Create every catalog topic that does not exist yet (idempotent)."""
    from claimflow.admin import create_topics

    report = create_topics(catalog=catalog)
    click.echo(f"created {len(report.created)}, already present {len(report.existing)}")
    for m in report.mismatched:
        click.echo(f"WARNING: {m}", err=True)


@topics.command("render")
@click.option("--check", is_flag=True, help="rewrite nothing; exit 1 when a generated file is stale")
def topics_render(check: bool) -> None:
    """Regenerate deploy/topics.yaml, deploy/k8s/21-topics.yaml and the service READMEs' topic tables."""
    from claimflow.catalog import REPO_ROOT, render_all, stale_files

    if check:
        stale = stale_files()
        for path in stale:
            click.echo(f"stale: {path.relative_to(REPO_ROOT)}", err=True)
        sys.exit(1 if stale else 0)
    written = render_all()
    click.echo(f"rewrote {len(written)} file(s)" + "".join(f"\n  {p.relative_to(REPO_ROOT)}" for p in written))


@topics.command("list")
def topics_list() -> None:
    from claimflow.kafkaio import topic_sizes
    from claimflow.topics import ALL_TOPICS

    from services.ops.tables import topic_rows

    click.echo("\n".join(topic_rows(topic_sizes([t.name for t in ALL_TOPICS]))))


# --- services ---------------------------------------------------------------------------


@main.command(help=run_help())
@click.argument("service")
def run(service: str) -> None:
    from claimflow_app.runner import run_command

    run_command(service)


# --- data -------------------------------------------------------------------------------


@main.group()
def publish() -> None:
    """Publish JSON-lines files of contract records."""


def _publish(kind: str, file: str, verbose: bool = False, report_file: str | None = None) -> None:
    from claimflow.publish import publish_file
    from services.ops import findings

    report = publish_file(kind, file)
    click.echo(f"{kind}: accepted {report.accepted}, rejected {len(report.rejected)}")
    findings.emit(findings.publish_items(file, report.rejected), verbose, report_file)
    if report.rejected:
        sys.exit(2)


@publish.command("encounters")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="list every rejected line on stderr")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="write every rejected line (number and reason) as JSON lines")
def publish_encounters(file: str, verbose: bool, report_file: str | None) -> None:
    """Publish EncounterEvent JSON lines to encounters.v1."""
    _publish("encounters", file, verbose, report_file)


@publish.command("adjudications")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="list every rejected line on stderr")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="write every rejected line (number and reason) as JSON lines")
def publish_adjudications(file: str, verbose: bool, report_file: str | None) -> None:
    """Publish Adjudication JSON lines to adjudications.v1."""
    _publish("adjudications", file, verbose, report_file)


@main.group()
def generate() -> None:
    """Seeded synthetic data (no real PHI)."""


@generate.command("encounters")
@click.option("--count", default=200, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=7, show_default=True)
@click.option("--defect-rate", default=0.1, show_default=True, type=click.FloatRange(0, 1), help="share of encounters with a seeded claim defect")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
def generate_encounters(count: int, seed: int, defect_rate: float, out: str) -> None:
    from claimflow.synthetic import EncounterGenerator

    gen = EncounterGenerator(seed=seed, defect_rate=defect_rate)
    defects = 0
    with open(out, "w") as fh:
        for i in range(count):
            enc, defect = gen.encounter(i)
            defects += defect is not None
            fh.write(enc.model_dump_json() + "\n")
    click.echo(f"wrote {count} encounters ({defects} with seeded defects) to {out}")


@generate.command("adjudications")
@click.option("--encounters", "enc_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--share", default=0.5, show_default=True, type=click.FloatRange(0, 1), help="share of encounters that get an adjudication")
@click.option("--deny-rate", default=0.25, show_default=True, type=click.FloatRange(0, 1))
@click.option("--seed", default=11, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True)
def generate_adjudications(enc_file: str, share: float, deny_rate: float, seed: int, out: str) -> None:
    from claimflow.kafkaio import iter_lines
    from claimflow.models import EncounterEvent
    from claimflow.synthetic import adjudication_for

    rng = random.Random(seed)
    n = denied = 0
    with open(out, "w") as fh:
        for _, line in iter_lines(enc_file):
            enc = EncounterEvent.model_validate_json(line)
            if enc.coverage is None or rng.random() >= share:
                continue
            deny = rng.random() < deny_rate
            fh.write(adjudication_for(enc, rng, deny).model_dump_json() + "\n")
            n += 1
            denied += deny
    click.echo(f"wrote {n} adjudications ({denied} denials) to {out}")


@main.command()
@click.option("--count", default=200, show_default=True, type=click.IntRange(min=1), help="encounters to publish")
@click.option("--keep-running", is_flag=True, help="leave broker and services up afterwards")
@click.option("--bootstrap", default=None, metavar="HOST:PORT",
              help="send the encounters through the pipeline already running on this broker instead of starting one")
@click.option("--explain", is_flag=True, help="after the summary, one line on what each figure means")
def demo(count: int, keep_running: bool, bootstrap: str | None, explain: bool) -> None:
    """Run the whole pipeline end to end on a broker of its own and print a summary of this run."""
    from claimflow_app.demo import run_demo

    summary = run_demo(count=count, keep_running=keep_running, bootstrap=bootstrap)
    click.echo(json.dumps(summary, indent=2))
    if explain:
        from services.ops.summary import explain_lines

        click.echo("\n".join(explain_lines(summary)))


from services.fhir_gateway.cli import ingest as _ingest_group  # noqa: E402
from services.payer_gateway.cli import x12 as _x12_group  # noqa: E402

main.add_command(_x12_group)
main.add_command(_ingest_group)


from claimflow.security_cli import acls_group as _acls, tokens_group as _tokens  # noqa: E402  (Kafka ACLs, HTTP tokens)

kafka.add_command(_acls); main.add_command(_tokens)  # noqa: E702
from services.scrubber.refdata_cli import refdata  # noqa: E402  (reference data importers)

main.add_command(refdata)

from services.scrubber.corrections_cli import claims as _claims_group  # noqa: E402  (held-claim correction loop)

main.add_command(_claims_group)
from services.coder.cli import code as _code_command  # noqa: E402  (offline coding of exports)
main.add_command(_code_command)

from services.adjudicator.cli import appeals as _appeals_group  # noqa: E402  (denial worklist actions)

main.add_command(_appeals_group)
from claimflow.reimbursement.cli import price as _price_command  # noqa: E402  (expected reimbursement)

main.add_command(_price_command)
from services.ops.dlq_cli import dlq as _dlq_group  # noqa: E402  (dead letters: list, show, replay, discard)

main.add_command(_dlq_group)
from services.workbench.cli import users as _users_group, workbench as _workbench_group  # noqa: E402

main.add_command(_users_group)
main.add_command(_workbench_group)


@main.group()
def eval() -> None:  # noqa: A001
    """Offline evaluations."""


@eval.command("coding")
@click.option("--learning", is_flag=True, help="learning from coders: a simulated coder (the labels) resolves the first half "
              "of the Synthea review items; auto-coding and precision on the rest before and after")
@click.option("--k", "k", type=int, default=None, help="agreeing decisions before a concept is auto-coded "
              "(default: CLAIMFLOW_CODER_LEARNING_K, 3)")
def eval_coding(learning: bool, k: int | None) -> None:
    """Auto-coding rate, precision, recall and confusion list on the labelled set."""
    import runpy
    import sys as _sys

    _sys.argv = ["services.coder.evaluation"] + (["--learning"] if learning else []) + (["--k", str(k)] if k is not None else [])
    runpy.run_module("services.coder.evaluation", run_name="__main__")


if __name__ == "__main__":
    main()
