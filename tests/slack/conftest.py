"""Slack fixtures: the fake Web API, the real Bolt app on test services with the worker pool and the outbox
job behind it, and a client that signs requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from slack_sdk.http_retry import builtin_handlers
from starlette.testclient import TestClient

from bot.app import Services
from bot.slack.app import build_slack_app, slack_deps
from bot.slack.notices import deliver_due
from bot.worker import WorkerPool
from bot.slack.http import mount_slack
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "test-signing-secret"
TEAM = "T1"
CHANNEL = "C0CHANNEL"
INTAKE = "C0INTAKE"
USER = "U0ALICE"


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until `check()` is truthy: lazy listeners finish after the HTTP answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class SlackHarness:
    """Sends signed Slack requests to POST /slack/events of a small FastAPI app."""

    def __init__(self, client: TestClient, api: FakeSlackAPI, services: Services) -> None:
        self.client = client
        self.api = api
        self.services = services

    def send(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             signed: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": content_type, **(signed if signed is not None else sign(body)), **(headers or {})}
        return self.client.post("/slack/events", content=body.encode("utf-8"), headers=all_headers)

    def command(self, command: str, text: str, channel: str = CHANNEL, **over: Any) -> Any:
        trigger = over.pop("trigger_id", uuid.uuid4().hex)
        form = {"token": "x", "team_id": TEAM, "team_domain": "fake", "channel_id": channel, "channel_name": "ops",
                "user_id": USER, "user_name": "alice", "command": command, "text": text, "api_app_id": "A1",
                "response_url": self.api.response_url(trigger), "trigger_id": trigger, **over}
        return self.send(urlencode(form), "application/x-www-form-urlencoded")

    def click(self, action_id: str, value: str, message_ts: str, channel: str = CHANNEL, user: str = USER,
              team: str = TEAM) -> Any:
        return self.act({"action_id": action_id, "value": value, "type": "button"}, message_ts, channel, user, team)

    def act(self, action: dict[str, Any], message_ts: str, channel: str = CHANNEL, user: str = USER,
            team: str = TEAM) -> Any:
        """A signed block_actions payload for one element (a button click, a menu or select choice)."""
        payload = {
            "type": "block_actions", "team": {"id": team, "domain": "fake"}, "user": {"id": user, "team_id": team},
            "api_app_id": "A1", "token": "x", "trigger_id": uuid.uuid4().hex,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "channel": {"id": channel, "name": "ops"}, "message": {"ts": message_ts, "type": "message"},
            "response_url": self.api.response_url(f"click-{uuid.uuid4().hex[:6]}"),
            "actions": [{"block_id": "b", "action_ts": str(time.time()), **action}],
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None) -> Any:
        body = json.dumps({
            "token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return self.send(body, "application/json", headers)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    api = FakeSlackAPI().start()
    yield api
    api.stop()


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk adds up to 1 s of random jitter to each Retry-After; tests wait exactly Retry-After."""
    monkeypatch.setattr(builtin_handlers.random, "random", lambda: 0.0)


class Backend:
    """What `ballast serve` runs beside the Slack route: the worker pool deciding the inbox, and the
    outbox job posting cards and replies (here a thread calling it every 20 ms)."""

    def __init__(self, services: Services) -> None:
        self.pool = WorkerPool(services, threads=1, poll_seconds=0.02)
        self.deps = slack_deps(services)
        self._stop = threading.Event()
        self._outbox = threading.Thread(target=self._deliver, name="test-outbox", daemon=True)

    def start(self) -> Backend:
        self.pool.start()
        self._outbox.start()
        return self

    def _deliver(self) -> None:
        while not self._stop.wait(0.02):
            try:
                while deliver_due(self.deps, "test-outbox"):
                    pass
            except Exception:  # noqa: BLE001  (shown in the log; the next pass retries)
                logging.getLogger(__name__).exception("outbox pass failed")

    def stop(self) -> None:
        self._stop.set()
        self._outbox.join(30)
        self.pool.stop(30)


@pytest.fixture
def make_slack(make_services: Callable[..., Services], fake_slack: FakeSlackAPI) -> Iterator[Callable[..., SlackHarness]]:
    """A harness on services with these settings overrides (field names, e.g. dedup_human_threshold);
    `backend=False` leaves the inbox undecided and the outbox unposted (a process that died after its acks)."""
    clients: list[TestClient] = []
    executors: list[ThreadPoolExecutor] = []
    backends: list[Backend] = []

    def make(*, backend: bool = True, **overrides: Any) -> SlackHarness:
        services = make_services(
            None, slack_bot_token=SecretStr("xoxb-test"), slack_signing_secret=SecretStr(SECRET),
            slack_api_url=fake_slack.url, slack_intake_channels=INTAKE, slack_tenants=f"{TEAM}=acme", **overrides,
        )
        executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="test-slack")
        executors.append(executor)
        bolt = build_slack_app(services, token_verification_enabled=False, listener_executor=executor)
        web = FastAPI()
        mount_slack(web, bolt)
        client = TestClient(web)
        client.__enter__()
        clients.append(client)
        if backend:
            backends.append(Backend(services).start())
        return SlackHarness(client, fake_slack, services)

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    for executor in executors:
        executor.shutdown(wait=True)  # background replies finish before the fake Slack stops
    for backend in backends:
        backend.stop()


@pytest.fixture
def slack(make_slack: Callable[..., SlackHarness]) -> SlackHarness:
    return make_slack()
