"""`POST /slack/events` for the HTTP app: Slack's events, commands and button clicks, one route.

Bolt's `dispatch` is synchronous and polls until the listener acks; run on the event loop it
would serialise every Slack request, so the route hands it to Starlette's thread pool.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

SLACK_PATH = "/slack/events"


class ThreadedSlackRequestHandler(SlackRequestHandler):
    """slack_bolt's FastAPI handler, with the blocking dispatch moved off the event loop."""

    async def handle(self, req: Request, addition_context_properties: dict | None = None) -> Response:  # type: ignore[type-arg]
        if req.method != "POST":
            return await super().handle(req, addition_context_properties)
        body = await req.body()
        bolt_request = to_bolt_request(req, body, addition_context_properties)
        bolt_response = await run_in_threadpool(self.app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)


def slack_router(bolt_app: App, path: str = SLACK_PATH) -> APIRouter:
    """A router with the one Slack route; invalid or stale signatures get 401 from Bolt."""
    handler = ThreadedSlackRequestHandler(bolt_app)
    router = APIRouter()

    @router.post(path, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    return router


def mount_slack(app: FastAPI, bolt_app: App, path: str = SLACK_PATH) -> None:
    """Serve `bolt_app` at `POST path` of `app`."""
    app.include_router(slack_router(bolt_app, path))
