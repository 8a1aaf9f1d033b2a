"""FHIR gateway wiring: the aiohttp edge (services.fhir_gateway.http) publishing
EncounterEvents to ``encounters.v1`` keyed by encounter id.

- The producer is kafka-python's KafkaProducer (acks=all, idempotent) driven from a
  single worker thread, so the event loop never blocks; a request is answered 200 only
  after the broker acknowledged every event it produced.
- Re-sending the same bundle emits nothing: a dedupe store (sqlite3, under
  ``<data_dir>/fhir-gateway/``) remembers ``encounter_id -> (fingerprint, version)`` of what
  was acknowledged; an unchanged encounter is skipped, a changed one is published with
  ``version + 1``. The store is updated only after delivery, so a crash re-sends (same
  version, absorbed downstream), never loses.
- ``GET /metrics`` (Prometheus) and ``GET /healthz``.
Logs carry counts and encounter ids (opaque hashes) only, never PHI."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from aiohttp import web

from claimflow import metrics, topics
from claimflow.codec import Codec
from claimflow.httpauth import table_from_settings
from claimflow.models import EncounterEvent
from claimflow.security import relaxed
from claimflow.settings import Settings, get_settings
from services.fhir_gateway.http import GatewayConfig, create_app
from services.fhir_gateway.mapping import fingerprint

SERVICE = "fhir-gateway"
STORE_NAME = "published.sqlite3"

log = logging.getLogger("claimflow.fhir_gateway")


# --- dedupe store ------------------------------------------------------------------------


class DedupeStore:
    """``encounter_id -> (fingerprint, version)`` of every event the broker acknowledged.

    sqlite3 in WAL mode, so the gateway and ``claimflow ingest fhir`` can share it. Use one
    instance from one thread."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS published (encounter_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, version INTEGER NOT NULL)")
        self.db.commit()

    @classmethod
    def for_settings(cls, settings: Settings) -> "DedupeStore":
        return cls(Path(settings.data_dir) / SERVICE / STORE_NAME)

    def get(self, encounter_id: str) -> tuple[str, int] | None:
        row = self.db.execute("SELECT fingerprint, version FROM published WHERE encounter_id = ?", (encounter_id,)).fetchone()
        return (row[0], int(row[1])) if row else None

    def plan(self, events: Iterable[EncounterEvent], fingerprints: dict[str, str] | None = None) -> tuple[list[tuple[EncounterEvent, str]], int]:
        """(events to publish with their version set, number unchanged). A changed encounter
        gets the stored version + 1; an encounter repeated within ``events`` counts once."""
        todo: list[tuple[EncounterEvent, str]] = []
        unchanged = 0
        seen: dict[str, str] = {}
        for ev in events:
            fp = (fingerprints or {}).get(ev.encounter_id) or fingerprint(ev)
            if seen.get(ev.encounter_id) == fp:
                unchanged += 1
                continue
            prev = self.get(ev.encounter_id)
            if ev.encounter_id in seen:  # same id, different content in one request: the later wins
                todo = [(e, f) for e, f in todo if e.encounter_id != ev.encounter_id]
            seen[ev.encounter_id] = fp
            if prev is not None and prev[0] == fp:
                unchanged += 1
                continue
            version = max(ev.version, prev[1] + 1) if prev is not None else ev.version
            todo.append((ev.model_copy(update={"version": version}) if version != ev.version else ev, fp))
        return todo, unchanged

    def record(self, published: Iterable[tuple[EncounterEvent, str]]) -> None:
        rows = [(e.encounter_id, fp, e.version) for e, fp in published]
        if not rows:
            return
        with self.db:
            self.db.executemany(
                "INSERT INTO published (encounter_id, fingerprint, version) VALUES (?, ?, ?) "
                "ON CONFLICT(encounter_id) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "version = MAX(published.version, excluded.version)", rows)

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM published").fetchone()[0])

    def close(self) -> None:
        self.db.close()


# --- publishing --------------------------------------------------------------------------


@dataclass
class PublishCounts:
    found: int = 0
    published: int = 0
    unchanged: int = 0
    encounter_ids: list[str] = field(default_factory=list)


class EncounterPublisher:
    """Dedupe, Avro-encode and produce EncounterEvents; blocking (call from one thread)."""

    def __init__(self, settings: Settings, store: DedupeStore | None = None, codec: Codec | None = None,
                 producer_factory: Callable[[Settings], Any] | None = None, service: str = SERVICE):
        self.settings = settings
        self.store = store or DedupeStore.for_settings(settings)
        self.codec = codec or Codec()
        self._factory = producer_factory
        self._producer = None
        self.service = service

    def producer(self):
        if self._producer is None:
            if self._factory is not None:
                self._producer = self._factory(self.settings)
            else:
                from claimflow.kafkaio import producer

                self._producer = producer(self.settings, client_id=f"claimflow-{self.service}")
        return self._producer

    def publish(self, events: list[EncounterEvent], fingerprints: dict[str, str] | None = None,
                progress: Callable[[int], None] | None = None) -> PublishCounts:
        todo, unchanged = self.store.plan(events, fingerprints)
        counts = PublishCounts(found=len(events), unchanged=unchanged)
        if todo:
            prod = self.producer()
            futures = []
            for ev, _fp in todo:
                body = self.codec.encode(topics.ENCOUNTERS.value, ev.to_avro())
                futures.append(prod.send(topics.ENCOUNTERS.name, key=ev.encounter_id.encode(), value=body))
                if progress:
                    progress(1)
            prod.flush(timeout=60)
            for fut in futures:
                fut.get(timeout=60)  # raises KafkaError: nothing is recorded, the sender retries
            self.store.record(todo)
            metrics.RECORDS_OUT.labels(self.service, topics.ENCOUNTERS.name).inc(len(todo))
        counts.published = len(todo)
        counts.encounter_ids = [e.encounter_id for e, _ in todo]
        metrics.RECORDS_IN.labels(self.service, "ok").inc(counts.published)
        if unchanged:
            metrics.RECORDS_IN.labels(self.service, "duplicate").inc(unchanged)
        return counts

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=10)
            finally:
                self._producer.close(timeout=10)
                self._producer = None
        self.store.close()


class AsyncPublisher:
    """The ``publish`` the HTTP edge awaits: runs EncounterPublisher in one dedicated
    thread, one request at a time (dedupe decisions never race)."""

    def __init__(self, publisher: EncounterPublisher):
        self.publisher = publisher
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhir-publish")
        self.lock = asyncio.Lock()

    async def __call__(self, events: list[EncounterEvent]) -> None:
        async with self.lock:
            loop = asyncio.get_running_loop()
            counts = await loop.run_in_executor(self.executor, self.publisher.publish, events)
        sink = _COUNTS.get(None)
        if sink is not None:
            sink.append(counts)
        log.info("fhir publish: found=%d published=%d unchanged=%d", counts.found, counts.published, counts.unchanged)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.publisher.close)
        self.executor.shutdown(wait=True)


_COUNTS: contextvars.ContextVar[list[PublishCounts] | None] = contextvars.ContextVar("fhir_publish_counts", default=None)


@web.middleware
async def publish_counts_middleware(request: web.Request, handler):
    """Adds X-Claimflow-Published / X-Claimflow-Unchanged to bundle responses."""
    sink: list[PublishCounts] = []
    token = _COUNTS.set(sink)
    try:
        response = await handler(request)
    finally:
        _COUNTS.reset(token)
    if request.method == "POST" and isinstance(response, web.Response):
        response.headers["X-Claimflow-Published"] = str(sum(c.published for c in sink))
        response.headers["X-Claimflow-Unchanged"] = str(sum(c.unchanged for c in sink))
    return response


async def handle_metrics(request: web.Request) -> web.Response:
    body, ctype = metrics.exposition()
    return web.Response(body=body, content_type=ctype.split(";")[0].strip(), charset="utf-8")


def reference_bundles(folder: Path | None) -> tuple[tuple[str, Any], ...]:
    if folder is None or not Path(folder).is_dir():
        return ()
    out = []
    for f in sorted(Path(folder).rglob("*.json")):
        try:
            out.append((str(f), json.loads(f.read_bytes())))
        except (OSError, ValueError):
            log.warning("reference bundle %s is not readable JSON; skipped", f.name)
    return tuple(out)


def gateway_config(settings: Settings) -> GatewayConfig:
    return GatewayConfig(host=settings.http_host, port=settings.port_fhir_gateway, max_body_bytes=settings.fhir_max_body_bytes,
                         bearer_token=settings.fhir_bearer_token, tokens=table_from_settings(settings),
                         allow_anonymous=relaxed(settings), source_system=settings.fhir_source_system,
                         reference_bundles=reference_bundles(settings.fhir_reference_dir))


def build_web_app(settings: Settings, publish: AsyncPublisher) -> web.Application:
    app = create_app(publish, gateway_config(settings))
    app.middlewares.append(publish_counts_middleware)
    app.router.add_get("/metrics", handle_metrics)
    return app


async def serve(settings: Settings, stop: asyncio.Event, ready: threading.Event | None = None) -> None:
    """Serve until ``stop`` is set, then close the listener and flush the producer."""
    publisher = AsyncPublisher(EncounterPublisher(settings))
    runner = web.AppRunner(build_web_app(settings, publisher))
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http_host, settings.port_fhir_gateway)
        await site.start()
        log.info("fhir gateway listening on %s:%d -> %s", settings.http_host, settings.port_fhir_gateway, topics.ENCOUNTERS.name)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await runner.cleanup()
        await publisher.close()
        log.info("fhir gateway stopped")


def run_gateway(settings: Settings | None = None) -> None:
    """Run the gateway in the foreground until SIGTERM / SIGINT."""
    settings = settings or get_settings()
    from claimflow.security import enforce

    enforce("fhir-gateway", settings)
    logging.basicConfig(level=settings.log_level.upper().replace("WARN", "WARNING"),
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
