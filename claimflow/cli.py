"""The ``claimflow`` command line."""

from __future__ import annotations

import json
import random
import signal
import sys
import time
from pathlib import Path

import click

from claimflow.settings import get_settings


@click.group()
def main() -> None:
    """claimflow: event-driven medical billing and coding on Apache Kafka."""


# --- kafka ------------------------------------------------------------------------------


@main.group()
def kafka() -> None:
    """Run a local single-node KRaft Apache Kafka broker (jars from Maven Central)."""


@kafka.command("fetch")
def kafka_fetch() -> None:
    """Resolve the broker jars with Maven into the cache."""
    from claimflow.kafka_local import fetch_jars

    click.echo(f"kafka jars in {fetch_jars()}")


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
    """Topic catalog (deploy/topics.yaml)."""


@topics.command("create")
def topics_create() -> None:
    """Create every catalog topic that does not exist yet (idempotent)."""
    from claimflow.admin import create_topics

    report = create_topics()
    click.echo(f"created {len(report.created)}, already present {len(report.existing)}")
    for m in report.mismatched:
        click.echo(f"WARNING: {m}", err=True)


@topics.command("list")
def topics_list() -> None:
    from claimflow.kafkaio import topic_sizes
    from claimflow.topics import ALL_TOPICS

    for name, n in topic_sizes([t.name for t in ALL_TOPICS]).items():
        click.echo(f"{name:24s} {n:8d}")


# --- services ---------------------------------------------------------------------------


@main.command()
@click.argument("service")
def run(service: str) -> None:
    """Run SERVICE (coder, scrubber, adjudicator) or `all` (one process each)."""
    from claimflow import services

    if service == "fhir-gateway":
        from services.fhir_gateway.app import run_gateway

        run_gateway(get_settings())
        return
    if service != "all":
        services.run_worker(service)
        return
    settings = get_settings()
    log_dir = settings.data_dir / "logs"
    procs = [services.spawn(s, log_dir) for s in services.SERVICES]
    click.echo(f"started {', '.join(f'{p.service} (pid {p.proc.pid})' for p in procs)}; logs in {log_dir}")
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping:
            for p in procs:
                if p.proc.poll() is not None:
                    click.echo(f"{p.service} exited with {p.proc.returncode}", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        for p in procs:
            p.stop()


# --- data -------------------------------------------------------------------------------


@main.group()
def publish() -> None:
    """Publish JSON-lines files of contract records."""


def _publish(kind: str, file: str) -> None:
    from claimflow.publish import publish_file

    report = publish_file(kind, file)
    click.echo(f"{kind}: accepted {report.accepted}, rejected {len(report.rejected)}")
    for line, why in report.rejected[:50]:
        click.echo(f"  line {line}: {why}", err=True)
    if report.rejected:
        sys.exit(2)


@publish.command("encounters")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def publish_encounters(file: str) -> None:
    """Publish EncounterEvent JSON lines to encounters.v1."""
    _publish("encounters", file)


@publish.command("adjudications")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def publish_adjudications(file: str) -> None:
    """Publish Adjudication JSON lines to adjudications.v1."""
    _publish("adjudications", file)


@main.group()
def generate() -> None:
    """Seeded synthetic data (no real PHI)."""


@generate.command("encounters")
@click.option("--count", default=200, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--defect-rate", default=0.1, show_default=True, help="share of encounters with a seeded claim defect")
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
@click.option("--share", default=0.5, show_default=True, help="share of encounters that get an adjudication")
@click.option("--deny-rate", default=0.25, show_default=True)
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
@click.option("--count", default=200, show_default=True, help="encounters to publish")
@click.option("--keep-running", is_flag=True, help="leave broker and services up afterwards")
def demo(count: int, keep_running: bool) -> None:
    """Run the whole pipeline end to end on a local broker and print a summary."""
    from claimflow.demo import run_demo

    summary = run_demo(count=count, keep_running=keep_running)
    click.echo(json.dumps(summary, indent=2))


from services.fhir_gateway.cli import ingest as _ingest_group  # noqa: E402
from services.payer_gateway.cli import x12 as _x12_group  # noqa: E402

main.add_command(_x12_group)
main.add_command(_ingest_group)


from services.scrubber.refdata_cli import refdata  # noqa: E402  (reference data importers)

main.add_command(refdata)

from services.scrubber.corrections_cli import claims as _claims_group  # noqa: E402  (held-claim correction loop)

main.add_command(_claims_group)
from services.workbench.cli import users as _users_group, workbench as _workbench_group  # noqa: E402

main.add_command(_users_group)
main.add_command(_workbench_group)


@main.group()
def eval() -> None:  # noqa: A001
    """Offline evaluations."""


@eval.command("coding")
def eval_coding() -> None:
    """Auto-coding rate, precision, recall and confusion list on the labelled set."""
    import runpy
    import sys as _sys

    _sys.argv = ["services.coder.evaluation"]
    runpy.run_module("services.coder.evaluation", run_name="__main__")


if __name__ == "__main__":
    main()
