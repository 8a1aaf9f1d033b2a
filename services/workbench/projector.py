"""Workbench projector wiring: the pipeline's topics -> the workbench's SQL read model.

A Faust app on the project's Processor (decode, validate, dead-letter poison input to
dlq.workbench.v1 with its original bytes, metrics, handled-only commits); the rules are in
``services.workbench.projection``. Writes go through Django's ORM in Django's sync thread
(``sync_to_async``), ONE transaction per batch of up to ``BATCH_MAX`` events (or what
arrived within ``BATCH_WITHIN`` seconds), taken with Faust's ``stream.take_events``:
every event of the batch is decoded and validated first (poison -> DLQ, marked handled),
the rest are applied by ``projection.apply_batch``, and only then marked handled (the
commit guard commits nothing past an unapplied event). If the batch's transaction fails,
it is rolled back and the same events are applied one by one through the Processor's own
``handle_event``, so the one event whose rules fail is dead-lettered exactly as before and
the others are applied. Redelivery after a crash mid-batch is harmless: every write is an
idempotent upsert. (When the shared Processor gains a whole-batch hook, this loop is
what moves into it.)"""

from __future__ import annotations

from datetime import datetime, timezone

import logging
import time

import faust
from asgiref.sync import sync_to_async
from mode import CrashingSupervisor

from claimflow.dlq import PoisonMessage
from claimflow.runtime import Processor, guard_topics, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from services.workbench.django_setup import migrate

log = logging.getLogger(__name__)

SERVICE = "workbench"
BATCH_MAX = 500
BATCH_WITHIN = 0.25  # seconds
STATS_EVERY = 300.0  # seconds between refreshes of the planner's statistics (queue.refresh_planner_stats)


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    from services.workbench import config

    config.use(settings)
    migrate()  # the read model's schema, through Django migrations (idempotent)
    from services.workbench.projection import ROUTES, apply_batch, project
    from services.workbench.queue import refresh_planner_stats

    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    apply = sync_to_async(project, thread_sensitive=True)
    apply_many = sync_to_async(apply_batch, thread_sensitive=True)
    refresh_stats = sync_to_async(refresh_planner_stats, thread_sensitive=True)

    def handler(topic: str):
        async def handle(record, event):
            ts = event.message.timestamp
            await apply(topic, record, datetime.fromtimestamp(ts, tz=timezone.utc) if ts else None)
            return []
        return handle

    routes = {name: (spec, model, handler(name)) for name, (spec, model, _) in ROUTES.items()}
    specs = [spec for spec, _, _ in routes.values()]

    @app.agent(raw_topic(app, specs[0], *specs[1:]), name="workbench.projector", concurrency=1,
               supervisor_strategy=CrashingSupervisor)
    async def projector(stream):
        guard_topics(app, *specs)
        stats_at = 0.0
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
            await project_batch(processor, routes, events, apply_many)
            if time.monotonic() - stats_at > STATS_EVERY:
                stats_at = time.monotonic()
                try:
                    await refresh_stats()
                except Exception as exc:  # statistics only steer the planner: never stop projecting for them
                    log.warning("planner statistics not refreshed: %s", type(exc).__name__)

    app.claimflow_processor = processor
    return app


def _written_at(event) -> datetime | None:
    ts = event.message.timestamp
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts else None


async def project_batch(processor: Processor, routes: dict, events: list, apply_many) -> None:
    """Decode all, dead-letter the poison, apply the rest in one transaction, mark handled."""
    started = time.perf_counter()
    good = []
    for event in events:
        spec, model, _ = routes[event.message.topic]
        try:
            good.append((event, processor.decode(event.value, spec, model)))
        except PoisonMessage as poison:
            await processor.dead_letter(event, poison)
            processor._mark_handled(event.message)
    if not good:
        return
    try:
        await apply_many([(e.message.topic, record, _written_at(e)) for e, record in good])
    except Exception as exc:  # the batch rolled back: one by one, so only the failing event is dead-lettered
        log.warning("batch of %d rolled back (%s); applying one by one", len(good), type(exc).__name__)
        for event, _ in good:
            spec, model, handler = routes[event.message.topic]
            await processor.handle_event(event, spec, model, handler)
        return
    for event, _ in good:
        processor._mark_handled(event.message)
        processor._in_ok.inc()
    processor._processing.observe((time.perf_counter() - started) / len(good))


def run(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    run()
