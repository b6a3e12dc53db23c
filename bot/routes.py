"""The webhook and REST routes: alerts in (committed to the inbox, 202), incidents and analytics out.

Every route is scoped to the tenant the edge middleware read from the API key; another tenant's
incident is a 404. Bodies are parsed here, not by FastAPI, so malformed JSON is a 400 and a wrong
shape a 422 that names the field. The two webhook routes are the hot path: they are plain ASGI
endpoints (`WebhookEndpoint`, no dependency injection or request objects) with the same error
shapes, and `openapi_with_payloads` describes them in the OpenAPI schema.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

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
_PAYLOADS: dict[str, type[AlertmanagerPayload] | type[GrafanaPayload]] = {
    "/webhooks/alertmanager": AlertmanagerPayload, "/webhooks/grafana": GrafanaPayload}
_WEBHOOK_DOCS = {"/webhooks/alertmanager": ("alertmanager", "Alertmanager webhook (payload version 4)",
                                            "One signal per alert; resends are replays."),
                 "/webhooks/grafana": ("grafana", "Grafana unified alerting webhook", "One signal per alert.")}
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


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise HTTPException(400, f"malformed JSON: {detail}") from exc


async def _json_body(request: Request) -> Any:
    return _parse_json(await request.body())


def parse_payload(model: type[AlertmanagerPayload] | type[GrafanaPayload],
                  raw: bytes) -> AlertmanagerPayload | GrafanaPayload:
    """Validate a webhook body in one pass; 400 for JSON that `json` cannot read, 422 naming the field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] != "json_invalid":
            raise _invalid(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from exc
    # pydantic's parser refused it: the standard parser decides, so that the 400 says where the
    # JSON breaks and what it accepts (other encodings, NaN) is still accepted.
    try:
        return model.model_validate(_parse_json(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _invalid(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from exc


def error_body(exc: StarletteHTTPException) -> dict[str, Any]:
    """The JSON of an error answer: a dict detail as it is, otherwise `{"error": detail}`."""
    return exc.detail if isinstance(exc.detail, dict) else {"error": exc.detail}


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: Mapping[str, str] | None = None) -> None:
    """One complete JSON answer on a raw ASGI `send` (compact separators, as JSONResponse writes)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class Acceptor:
    """Takes signals in: room in the backlog, the group commit, then the count and a nudge to the workers."""

    def __init__(self, pool: Processor, writer: InboxWriter, backlog: Backlog, metrics: Metrics) -> None:
        self.pool, self.writer, self.backlog, self.metrics = pool, writer, backlog, metrics
        self._received: dict[str, Any] = {}

    async def accept(self, signals: list[Signal], source: str) -> list[int]:
        """The committed rows' ids; HTTPException 503 + Retry-After when the backlog is full or the write failed."""
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        try:
            self.backlog.admit(len(signals))
        except Overloaded as exc:
            raise HTTPException(503, f"inbox backlog is over {self.backlog.limit} signals: retry later", retry) from exc
        try:
            ids = await self.writer.commit(signals, source)
        except Exception as exc:
            raise HTTPException(503, f"could not store the signals ({type(exc).__name__}): retry later", retry) from exc
        counter = self._received.get(source)
        if counter is None:  # one labelled child per source, looked up once
            counter = self._received[source] = self.metrics.received.labels(source)
        counter.inc(len(ids))
        self.pool.wake(len(ids))
        return ids


class WebhookEndpoint:
    """`POST /webhooks/<source>` as a plain ASGI app: parse and validate the body, accept, answer 202.

    The edge middleware has checked the key (its tenant is in `scope["state"]`) and buffered the
    body within the size cap. Errors have the shapes of the other routes (`error_body`).
    """

    def __init__(self, model: type[AlertmanagerPayload] | type[GrafanaPayload], source: str, acceptor: Acceptor,
                 max_text_chars: int) -> None:
        self.model, self.source, self.acceptor, self.max_text_chars = model, source, acceptor, max_text_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            payload = parse_payload(self.model, b"".join(chunks))
            signals = payload_signals(payload, source=self.source, tenant=str(scope["state"]["tenant"]),
                                      max_text_chars=self.max_text_chars)
            ids = await self.acceptor.accept(signals, self.source)
        except StarletteHTTPException as exc:
            await send_json(send, exc.status_code, error_body(exc), exc.headers)
            return
        await send_json(send, 202, {"accepted": len(ids), "ids": ids})


class WebhookRoute(Route):
    """A POST-only route to a `WebhookEndpoint` that names itself in the scope (the request-time metric's label)."""

    def __init__(self, path: str, endpoint: WebhookEndpoint) -> None:
        super().__init__(path, endpoint, methods=["POST"], include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match != Match.NONE:
            child["route"] = self
        return match, child


def webhook_routes(services: Services, acceptor: Acceptor) -> list[WebhookRoute]:
    """The Alertmanager and Grafana webhook routes (put them before the API router: they are matched first)."""
    max_text = services.settings.max_text_chars
    return [WebhookRoute(path, WebhookEndpoint(_PAYLOADS[path], source, acceptor, max_text))
            for path, (source, _, _) in _WEBHOOK_DOCS.items()]


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


def build_router(services: Services, acceptor: Acceptor) -> APIRouter:
    """The REST API routes (the webhooks are `webhook_routes`)."""
    engine = services.engine
    max_text = services.settings.max_text_chars
    bearer = HTTPBearer(auto_error=False, description="`tenant:key` pairs from BALLAST_API_KEYS")

    async def tenant(request: Request, _: Any = Depends(bearer)) -> str:
        # The edge middleware already checked the key (before the body was read); `bearer` is
        # here so the OpenAPI docs show the scheme. Async: a sync dependency costs a thread hop.
        return str(request.state.tenant)

    router = APIRouter()

    @router.post("/api/v1/alerts", status_code=202, tags=["alerts"])
    async def alerts(request: Request, tenant_id: str = Depends(tenant)) -> JSONResponse:
        """One `ballast ingest` line (an object with `text`) or a list of them."""
        body = await _json_body(request)
        ids = await acceptor.accept(_line_signals(body, tenant_id, max_text), "api")
        # A response object, not a dict: FastAPI then skips re-encoding and validating the body.
        return JSONResponse({"accepted": len(ids), "ids": ids}, 202)

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
        source, summary, description = _WEBHOOK_DOCS[path]
        schema["paths"][path] = {"post": {  # a plain ASGI route: FastAPI does not describe it itself
            "tags": ["webhooks"], "summary": summary, "description": description,
            "operationId": f"{source}_webhook_post", "security": [{"HTTPBearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": _webhook_responses()}}
    line = {"type": "object", "required": ["text"], "additionalProperties": True,
            "properties": {"text": {"type": "string"}, "id": {"type": ["string", "number"]}}}
    schema["paths"]["/api/v1/alerts"]["post"]["requestBody"] = {"required": True, "content": {
        "application/json": {"schema": {"anyOf": [line, {"type": "array", "items": line}]}}}}
    app.openapi_schema = schema
    return schema


def _webhook_responses() -> dict[str, Any]:
    def error(description: str, *fields: str) -> dict[str, Any]:
        props = {name: {"type": "string"} for name in ("error", *fields)}
        return {"description": description, "content": {"application/json": {"schema": {
            "type": "object", "required": ["error", *fields], "properties": props}}}}

    accepted = {"type": "object", "required": ["accepted", "ids"], "properties": {
        "accepted": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "integer"}}}}
    return {
        "202": {"description": "Every alert committed to the inbox; `ids` are their inbox rows, in order",
                "content": {"application/json": {"schema": accepted}}},
        "400": error("The body is not JSON"),
        "401": error("Missing or wrong API key"),
        "413": error("The body is over BALLAST_HTTP_MAX_BODY"),
        "422": error("Wrong shape; `field` names the first wrong field", "field"),
        "503": error("Backlog full or the database refused the write: retry after `Retry-After` seconds"),
    }
