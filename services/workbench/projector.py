"""Workbench projector wiring: the pipeline's topics -> the workbench's SQL read model.

A Faust app on the project's Processor (decode, validate, dead-letter poison input to
dlq.workbench.v1 with its original bytes, metrics, handled-only commits); the rules are in
``services.workbench.projection``. Writes go through Django's ORM in Django's sync thread
(``sync_to_async``), one transaction per event."""

from __future__ import annotations

from datetime import datetime, timezone

import faust
from asgiref.sync import sync_to_async
from mode import CrashingSupervisor

from claimflow.runtime import Processor, make_app, raw_topic
from claimflow.settings import Settings, get_settings
from services.workbench.django_setup import migrate

SERVICE = "workbench"


def build_app(settings: Settings | None = None, **overrides) -> faust.App:
    settings = settings or get_settings()
    from services.workbench import config

    config.use(settings)
    migrate()  # the read model's schema, through Django migrations (idempotent)
    from services.workbench.projection import ROUTES, project

    app = make_app(SERVICE, settings, **overrides)
    processor = Processor(app, SERVICE, settings=settings)
    apply = sync_to_async(project, thread_sensitive=True)

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
        await processor.run_routes(stream, routes)

    app.claimflow_processor = processor
    return app


def run(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    run()
