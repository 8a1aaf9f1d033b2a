"""HTTP edge of the FHIR gateway (aiohttp). It never talks to Kafka: the caller injects an
async ``publish(events)`` (the shell wires it to ``encounters.v1``).

Routes:
- ``POST /fhir/Bundle``, ``POST /fhir`` and ``POST /``: a FHIR R4 Bundle as
  ``application/fhir+json`` or ``application/json``. 200 -> a ``batch-response`` Bundle
  with one entry per request entry (``response.status`` + ``response.outcome``
  OperationOutcome). 400 malformed JSON/Bundle, 401 missing/wrong bearer token (a per-client
  token of the token table or the shared EHR token; only dev on loopback with no token at
  all configured accepts anonymous POSTs), 413 body over ``max_body_bytes``, 415 other
  media types, 503 when publishing failed (nothing acknowledged: the EHR retries; ids
  are deterministic so a retry is absorbed downstream).
- ``GET /healthz``.

Binds 127.0.0.1 unless configured otherwise. Logs carry counts only, never PHI."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from claimflow.httpauth import Principal, TokenTable, authenticate
from claimflow.models import EncounterEvent
from services.fhir_gateway.mapping import DEFAULT_SOURCE_SYSTEM, MappingResult, map_bundle
from services.fhir_gateway.outcomes import ERROR, EntryOutcome, Issue, operation_outcome
from services.fhir_gateway.resources import BundleError, check_bundle

log = logging.getLogger("claimflow.fhir_gateway.http")

Publish = Callable[[list[EncounterEvent]], Awaitable[None]]
FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
DEFAULT_PORT = 6104


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = 10 * 1024 * 1024
    bearer_token: SecretStr | None = None
    """Legacy shared token of the EHR feed (principal ``ehr``)."""
    tokens: TokenTable = field(default_factory=TokenTable)
    """Per-client tokens (claimflow.httpauth); with ``bearer_token`` the accepted credentials."""
    allow_anonymous: bool = True
    """True only in the dev profile on loopback: with no token at all configured, POSTs pass."""
    source_system: str = DEFAULT_SOURCE_SYSTEM
    reference_bundles: tuple[tuple[str, Any], ...] = field(default=())
    """Parsed bundles (e.g. practitioner/hospital directories) used to resolve references only."""


CONFIG_KEY = web.AppKey("fhir_gateway_config", GatewayConfig)
TOKENS_KEY = web.AppKey("fhir_gateway_tokens", TokenTable)
PRINCIPAL_KEY = "claimflow.principal"
PUBLISH_KEY = web.AppKey("fhir_gateway_publish", object)


def _oo_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(operation_outcome(issues)), content_type=FHIR_JSON, headers=headers)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def batch_response(result: MappingResult, entry_count: int) -> dict[str, Any]:
    by_index: dict[int, EntryOutcome] = {o.index: o for o in result.outcomes if o.index >= 0}
    entries = []
    for i in range(entry_count):
        o = by_index.get(i) or EntryOutcome("request", i, None, None, ERROR, "processing", "entry was not processed")
        oo = o.operation_outcome()
        if o.encounter_id:
            oo["issue"].append({"severity": "information", "code": "informational",
                                "diagnostics": f"encounter_id={o.encounter_id} version=1 fingerprint={o.fingerprint}"})
        entries.append({"response": {"status": o.http_status(), "outcome": oo}})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}


async def handle_bundle(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    principal = authenticate(request.headers, request.app[TOKENS_KEY], relaxed=config.allow_anonymous)
    if principal is None:
        return _oo_response(401, [Issue("error", "login", "missing or invalid bearer token")],
                            {"WWW-Authenticate": 'Bearer realm="claimflow-fhir"'})
    if request.content_length is not None and request.content_length > config.max_body_bytes:
        return _oo_response(413, [Issue("error", "too-long", f"request body exceeds the {config.max_body_bytes}-byte limit")])
    if request.content_type not in ACCEPTED_TYPES:
        return _oo_response(415, [Issue("error", "not-supported", "Content-Type must be application/fhir+json or application/json")])
    body = await _read_capped(request, config.max_body_bytes)
    if body is None:
        return _oo_response(413, [Issue("error", "too-long", f"request body exceeds the {config.max_body_bytes}-byte limit")])
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _oo_response(400, [Issue("fatal", "structure", "request body is not valid JSON")])
    try:
        check_bundle(obj)
    except BundleError as exc:
        return _oo_response(400, exc.issues)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(
        None, lambda: map_bundle(obj, source="request", source_system=config.source_system, reference_bundles=config.reference_bundles)
    )
    summary = result.summary
    if result.events:
        publish: Publish = request.app[PUBLISH_KEY]  # type: ignore[assignment]
        try:
            await publish(result.events)
        except Exception as exc:  # noqa: BLE001 - any publish failure is transient for the sender
            log.error("fhir bundle: publishing %d events failed (%s)", len(result.events), type(exc).__name__)
            return _oo_response(503, [Issue("error", "transient", "encounter events could not be published; retry the request (it is idempotent)")],
                                {"Retry-After": "5"})
    log.info("fhir bundle: %s", summary)
    body_out = batch_response(result, len(obj.get("entry") or []))
    headers = {"X-Claimflow-Events": str(summary["events"]), "X-Claimflow-Errors": str(summary["errors"])}
    return web.Response(status=200, text=json.dumps(body_out), content_type=FHIR_JSON, headers=headers)


async def handle_health(request: web.Request) -> web.Response:
    from claimflow.health import health_body

    return web.json_response(health_body("fhir-gateway"))  # the same shape as every service


def create_app(publish: Publish, config: GatewayConfig | None = None) -> web.Application:
    config = config or GatewayConfig()
    # aiohttp's own cap is a backstop; the handler enforces max_body_bytes itself.
    app = web.Application(client_max_size=config.max_body_bytes + 1024)
    app[CONFIG_KEY] = config
    app[TOKENS_KEY] = TokenTable(config.tokens.entries + TokenTable.of(shared=[(config.bearer_token, Principal("ehr", "ehr"))]).entries)
    app[PUBLISH_KEY] = publish
    app.router.add_post("/fhir/Bundle", handle_bundle)
    app.router.add_post("/fhir", handle_bundle)
    app.router.add_post("/", handle_bundle)
    app.router.add_get("/healthz", handle_health)
    return app


async def start(publish: Publish, config: GatewayConfig | None = None) -> web.AppRunner:
    """Start serving on ``config.host:config.port`` (127.0.0.1 by default); stop with
    ``await runner.cleanup()``."""
    config = config or GatewayConfig()
    runner = web.AppRunner(create_app(publish, config))
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    log.info("fhir gateway listening on %s:%d", config.host, config.port)
    return runner
