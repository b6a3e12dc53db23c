"""The webhook and REST routes: alerts in (committed to the inbox, 202), incidents and analytics out.

Every route is scoped to the tenant the edge middleware read from the API key; another tenant's
incident is a 404. Bodies are parsed here, not by FastAPI, so malformed JSON is a 400 and a wrong
shape a 422 that names the field.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from bot import inbox
from bot import incidents as repo
from bot.analytics import tenant_analytics
from bot.app import Services
from bot.inbox_writer import InboxWriter
from bot.lifecycle import LifecycleError, resolve_incident
from bot.metrics import Metrics
from bot.webhooks import AlertmanagerPayload, GrafanaPayload, payload_signals
from bot.worker import Processor
from retrieval.errors import InvalidSignal
from retrieval.signal import Signal, signal_from_mapping

RETRY_AFTER_SECONDS = 5
_PAYLOADS: dict[str, type[BaseModel]] = {"/webhooks/alertmanager": AlertmanagerPayload,
                                         "/webhooks/grafana": GrafanaPayload}
_QUOTED = re.compile(r"'([a-z_]+)'")


class Overloaded(Exception):
    """The inbox backlog is past BALLAST_QUEUE_MAX."""


class Backlog:
    """The inbox backlog, counted in the database at most once a second and bumped by each acceptance."""

    def __init__(self, engine: Engine, limit: int, metrics: Metrics, refresh_seconds: float = 1.0) -> None:
        self.engine, self.limit, self.metrics, self.refresh_seconds = engine, limit, metrics, refresh_seconds
        self.depth = 0
        self._counted_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self) -> int:
        depth = inbox.backlog(self.engine)
        with self._lock:
            self.depth, self._counted_at = depth, time.monotonic()
        self.metrics.queue_depth.set(depth)
        return depth

    def refresh_if_stale(self) -> None:
        if time.monotonic() - self._counted_at >= self.refresh_seconds:
            self.refresh()

    def admit(self, count: int) -> None:
        """Reserve room for `count` signals or raise Overloaded (the inbox writer recounts every second)."""
        age = time.monotonic() - self._counted_at
        if age > 10 * self.refresh_seconds or (age > 0.1 and self.depth + count > self.limit):
            self.refresh()  # nobody counted lately, or a refusal is near: count now
        with self._lock:
            if self.depth + count > self.limit:
                raise Overloaded
            self.depth += count  # a reservation; the next count replaces it with the truth


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise HTTPException(400, f"malformed JSON: {detail}") from exc


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, {"error": f"invalid '{field}': {message}", "field": field})


def _line_signals(body: Any, tenant: str, max_text_chars: int) -> list[Signal]:
    items = body if isinstance(body, list) else [body]
    if not items:
        raise _invalid("body", "send one alert object or a non-empty list of them")
    signals: list[Signal] = []
    for i, obj in enumerate(items):
        prefix = f"{i}." if isinstance(body, list) else ""
        if isinstance(obj, dict):
            obj = {**obj, "tenant": tenant}  # the key's tenant, whatever the body says
        try:
            signals.append(signal_from_mapping(obj, max_text_chars=max_text_chars))
        except InvalidSignal as exc:
            named = _QUOTED.search(str(exc))
            raise _invalid(prefix + (named.group(1) if named else "body"), str(exc)) from exc
    return signals


def build_router(services: Services, pool: Processor, writer: InboxWriter, backlog: Backlog,
                 metrics: Metrics) -> APIRouter:
    engine = services.engine
    max_text = services.settings.max_text_chars
    bearer = HTTPBearer(auto_error=False, description="`tenant:key` pairs from BALLAST_API_KEYS")

    async def tenant(request: Request, _: Any = Depends(bearer)) -> str:
        # The edge middleware already checked the key (before the body was read); `bearer` is
        # here so the OpenAPI docs show the scheme. Async: a sync dependency costs a thread hop.
        return str(request.state.tenant)

    router = APIRouter()

    async def accept(signals: list[Signal], source: str) -> JSONResponse:
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        try:
            backlog.admit(len(signals))
        except Overloaded as exc:
            raise HTTPException(503, f"inbox backlog is over {backlog.limit} signals: retry later", retry) from exc
        try:
            ids = await asyncio.wrap_future(writer.submit(signals, source))
        except Exception as exc:
            raise HTTPException(503, f"could not store the signals ({type(exc).__name__}): retry later", retry) from exc
        metrics.received.labels(source).inc(len(ids))
        pool.wake(len(ids))
        # A response object, not a dict: FastAPI then skips re-encoding and validating the body.
        return JSONResponse({"accepted": len(ids), "ids": ids}, 202)

    async def webhook(request: Request, source: str, tenant_id: str) -> JSONResponse:
        body = await _json_body(request)
        try:
            payload = _PAYLOADS[request.url.path].model_validate(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise _invalid(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from exc
        return await accept(payload_signals(payload, source=source, tenant=tenant_id,  # type: ignore[arg-type]
                                            max_text_chars=max_text), source)

    @router.post("/webhooks/alertmanager", status_code=202, tags=["webhooks"])
    async def alertmanager(request: Request, tenant_id: str = Depends(tenant)) -> JSONResponse:
        """Alertmanager webhook (payload version 4): one signal per alert; resends are replays."""
        return await webhook(request, "alertmanager", tenant_id)

    @router.post("/webhooks/grafana", status_code=202, tags=["webhooks"])
    async def grafana(request: Request, tenant_id: str = Depends(tenant)) -> JSONResponse:
        """Grafana unified alerting webhook: one signal per alert."""
        return await webhook(request, "grafana", tenant_id)

    @router.post("/api/v1/alerts", status_code=202, tags=["alerts"])
    async def alerts(request: Request, tenant_id: str = Depends(tenant)) -> JSONResponse:
        """One `ballast ingest` line (an object with `text`) or a list of them."""
        body = await _json_body(request)
        return await accept(_line_signals(body, tenant_id, max_text), "api")

    @router.get("/api/v1/alerts/{entry_id}", tags=["alerts"])
    def alert_state(entry_id: int = Path(ge=1), tenant_id: str = Depends(tenant)) -> dict[str, Any]:
        """An accepted signal's state (pending, processing, done, failed) and, once done, its decision."""
        state = inbox.entry_state(engine, tenant_id, entry_id)
        if state is None:
            raise HTTPException(404, f"no accepted signal {entry_id}")
        return state

    @router.get("/api/v1/incidents", tags=["incidents"])
    def list_incidents(status: Literal["open", "acknowledged", "resolved"] | None = None,
                       limit: int = Query(100, ge=1, le=1000), tenant_id: str = Depends(tenant)) -> dict[str, Any]:
        """The tenant's incidents, most recently seen first."""
        with Session(engine) as session:
            rows = [repo.incident_json(i) for i in repo.list_incidents(session, tenant_id, status, limit)]
        return {"incidents": rows, "count": len(rows)}

    @router.get("/api/v1/incidents/{incident_id}", tags=["incidents"])
    def get_incident(incident_id: int, tenant_id: str = Depends(tenant)) -> dict[str, Any]:
        with Session(engine) as session:
            try:
                return repo.incident_json(repo.get_incident(session, incident_id, tenant_id))
            except repo.IncidentNotFound as exc:
                raise HTTPException(404, f"no incident {incident_id}") from exc

    @router.post("/api/v1/incidents/{incident_id}/resolve", tags=["incidents"])
    def resolve(incident_id: int, tenant_id: str = Depends(tenant)) -> dict[str, Any]:
        """Resolve an incident; a later repeat of it is reported as a regression."""
        try:
            return repo.incident_json(resolve_incident(engine, incident_id, tenant_id))
        except repo.IncidentNotFound as exc:
            raise HTTPException(404, f"no incident {incident_id}") from exc
        except LifecycleError as exc:
            raise HTTPException(409, str(exc)) from exc

    @router.get("/api/v1/analytics", tags=["incidents"])
    def analytics(tenant_id: str = Depends(tenant)) -> dict[str, Any]:
        """Counts by status and service, duplicates folded, regressions, MTTA and MTTR (seconds)."""
        return tenant_analytics(engine, tenant_id)

    return router


def openapi_with_payloads(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the webhook request bodies, which the routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for path, model in _PAYLOADS.items():
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
        body = {"$ref": f"#/components/schemas/{model.__name__}"}
        schema["paths"][path]["post"]["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    line = {"type": "object", "required": ["text"], "additionalProperties": True,
            "properties": {"text": {"type": "string"}, "id": {"type": ["string", "number"]}}}
    schema["paths"]["/api/v1/alerts"]["post"]["requestBody"] = {"required": True, "content": {
        "application/json": {"schema": {"anyOf": [line, {"type": "array", "items": line}]}}}}
    app.openapi_schema = schema
    return schema
