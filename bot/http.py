"""The HTTP app (`create_app(services)`): edge middleware, error shapes, health, readiness and metrics.

The routes that take alerts and serve incidents live in bot/routes.py; this module assembles
them with the worker pool, API keys and metrics of one app instance (nothing module-level).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import Services
from bot.auth import KeyRing, parse_api_keys
from bot.db import acknowledging_engine
from bot.inbox_writer import InboxWriter
from bot.metrics import CONTENT_TYPE, Metrics
from bot.routes import Acceptor, Backlog, build_router, error_body, openapi_with_payloads, webhook_routes
from bot.runbook_routes import build_runbook_router
from bot.worker import Processor, WorkerPool

log = logging.getLogger("ballast.http")
PROTECTED = ("/api/", "/webhooks/")


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    import json

    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": payload})


class Edge:
    """Pure ASGI middleware: the API key check, then the body cap (before anything is parsed), then timing."""

    def __init__(self, app: ASGIApp, *, keyring: KeyRing, max_body: int, metrics: Metrics) -> None:
        self.app, self.keyring, self.max_body, self.metrics = app, keyring, max_body, metrics
        self._timers: dict[tuple[str, str], Any] = {}  # labelled histogram children, looked up once each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        authorization, declared = None, ""
        for key, value in scope.get("headers", ()):  # ASGI header names are lower-case already
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-length":
                declared = value.decode("latin-1")
        path: str = scope.get("path", "")
        if path.startswith(PROTECTED):
            tenant = self.keyring.tenant_for_header(authorization)
            if tenant is None:
                self.metrics.rejected.labels("unauthorized").inc()
                await _send_json(send, 401, {"error": "missing or wrong API key: send 'Authorization: Bearer KEY'"},
                                 [(b"www-authenticate", b"Bearer")])
                return
            scope.setdefault("state", {})["tenant"] = tenant
        if declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(send)
            return
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > self.max_body:
                    await self._too_large(send)
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(b"".join(chunks), receive)
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            key = (getattr(scope.get("route"), "path", "unmatched"), scope.get("method", ""))
            timer = self._timers.get(key)
            if timer is None:
                timer = self._timers[key] = self.metrics.request_seconds.labels(*key)
            timer.observe(time.perf_counter() - started)
            if status in (400, 422, 503):
                self.metrics.rejected.labels({400: "malformed", 422: "invalid", 503: "overloaded"}[status]).inc()

    async def _too_large(self, send: Send) -> None:
        self.metrics.rejected.labels("too_large").inc()
        await _send_json(send, 413, {"error": f"request body is over {self.max_body} bytes (BALLAST_HTTP_MAX_BODY): "
                                              "send fewer alerts per request"}, [])


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return JSONResponse({"error": f"invalid '{first['field']}': {first['message']}", "field": first["field"],
                             "errors": errors}, 422)


def create_app(services: Services, *, start_workers: bool = True,
               processor: Callable[[Metrics], Processor] | None = None) -> FastAPI:
    """The HTTP app over `services`.

    Signals are decided by `processor(metrics)` (default: a WorkerPool of threads in this process,
    `app.state.pool`); `start_workers=False` leaves that to the caller (`app.state.pool.run_once()`).
    """
    settings = services.settings
    keyring = parse_api_keys(settings.api_keys)
    if not keyring.enabled:
        log.warning("BALLAST_API_KEYS is unset: /api and /webhooks take requests without a key, as tenant 'default'")
    metrics = Metrics(embedder=settings.embedder)
    engine = services.engine  # migrates now, so a bad database fails the start, not the first request
    pool = WorkerPool(services, metrics.apply, threads=settings.workers, batch=settings.worker_batch,
                      lease_seconds=settings.inbox_lease_seconds)
    workers: Processor = processor(metrics) if processor else pool
    backlog = Backlog(engine, settings.queue_max, metrics)
    ack_engine = acknowledging_engine(engine, settings.sqlite_ack_synchronous)  # SQLite: fsync per group commit
    writer = InboxWriter(ack_engine, idle=backlog.refresh_if_stale)
    acceptor = Acceptor(workers, writer, backlog, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            workers.start()
        yield
        await run_in_threadpool(writer.stop)
        if ack_engine is not engine:
            ack_engine.dispose()
        if start_workers:
            await run_in_threadpool(workers.stop, 5.0)  # with uvicorn's 4 s: inside docker stop's 10 s

    # FastAPI's native OpenTelemetry hooks are off: Ballast reports through /metrics, and asking
    # the global OpenTelemetry providers whether they are configured costs every request ~25 us.
    app = FastAPI(title="Ballast", version="0.1.0", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Incident co-pilot: webhooks in, deduplicated incidents out (docs/http.md).")
    app.state.services, app.state.pool, app.state.metrics, app.state.backlog = services, pool, metrics, backlog
    app.state.writer = writer
    app.add_middleware(Edge, keyring=keyring, max_body=settings.http_max_body, metrics=metrics)
    _install_error_handlers(app)
    app.router.routes[0:0] = webhook_routes(services, acceptor)  # first: the hot path is matched first
    app.include_router(build_router(services, acceptor))
    app.include_router(build_runbook_router(services))
    if settings.slack_signing_secret is not None and settings.slack_bot_token is not None:
        from bot.slack.app import build_slack_app
        from bot.slack.http import mount_slack

        mount_slack(app, build_slack_app(services))  # POST /slack/events, checked by Slack's signature
    app.openapi = lambda: openapi_with_payloads(app)  # type: ignore[method-assign]

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: the database and the vector index answer, and the embedding model is loaded."""
        checks: dict[str, str] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks.update(workers.health())
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"])
    def metrics_route() -> Response:
        """Prometheus text exposition of this app's registry."""
        backlog.refresh()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return app
