"""A stack for alert scenarios: the real HTTP app (webhooks, worker pool, mounted Bolt app) over the fake Slack,
with a config file, the outbox job and the escalation job called directly on explicit clocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import Services
from bot.config import load_config
from bot.escalation_job import run_escalations
from bot.http import create_app
from bot.slack.app import SlackDeps, slack_deps
from bot.slack.notices import deliver_due
from tests.fakes.slack_api import FakeSlackAPI
from tests.http.conftest import am_alert, am_payload, drain
from tests.slack.conftest import SECRET, SlackHarness

ROUTED = "C0CHECKOUT"
DEFAULT = "C0DEFAULT"
ESCALATE = "C0ESCALATE"
CONFIG = f"""
routes:
  default: {DEFAULT}
  rules:
    - service: "checkout*"
      severity: critical
      channel: {ROUTED}
escalation:
  critical:
    ack_timeout: 15m
    repeat_every: 30m
    max_repeats: 2
    mention: "<!subteam^S0ONCALL>"
    channel: {ESCALATE}
"""


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Stack:
    services: Services
    client: TestClient
    deps: SlackDeps
    api: FakeSlackAPI

    @property
    def slack(self) -> SlackHarness:
        return SlackHarness(self.client, self.api, self.services)

    def alert(self, *alerts: dict[str, Any]) -> None:
        """Post an Alertmanager webhook and let the worker pool decide it."""
        response = self.client.post("/webhooks/alertmanager", json=am_payload(*alerts))
        assert response.status_code == 202, response.text
        drain(self.client)

    def deliver(self, now: datetime | None = None, worker: str = "outbox-a") -> int:
        total = 0
        while taken := deliver_due(self.deps, worker, now=now):
            total += taken
        return total

    def escalate(self, now: datetime, worker: str = "escalator-a") -> int:
        return run_escalations(self.deps, worker, now)


def firing(starts: datetime, **kw: Any) -> dict[str, Any]:
    return am_alert(starts_at=iso(starts), **kw)


def top_level(api: FakeSlackAPI, channel: str) -> list[dict[str, Any]]:
    return [m for m in api.posts(channel) if not m.get("thread_ts")]


def thread(api: FakeSlackAPI, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in api.posts(channel) if m.get("thread_ts") == ts]


def key_of(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("key"))


def text_of(message: dict[str, Any]) -> str:
    """Everything a reader sees of a message: its fallback text and the text of its blocks."""
    parts = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks"))
    return "\n".join(parts)


@pytest.fixture
def make_stack(make_services: Callable[..., Services], fake_slack: FakeSlackAPI,
               tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """`make_stack(config_text, **settings)`: a fresh stack; several share one database (replicas, restarts)."""
    clients: list[TestClient] = []

    def make(config: str = CONFIG, **overrides: Any) -> Stack:
        path = tmp_path / "ballast.yaml"
        path.write_text(config, encoding="utf-8")
        settings = {"slack_bot_token": SecretStr("xoxb-test"), "slack_signing_secret": SecretStr(SECRET),
                    "slack_api_url": fake_slack.url, "config_file": path, "slack_thread_window": 0.0, **overrides}
        services = make_services(None, **settings)
        client = TestClient(create_app(services, start_workers=False))
        client.__enter__()
        clients.append(client)
        deps = slack_deps(services, load_config(path))
        return Stack(services, client, deps, fake_slack)

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)
