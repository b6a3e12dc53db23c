"""Mentions and DMs are answered in their thread; /runbook and Show runbook read the indexed runbooks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.ids import Ids
from bot.slack import messages
from retrieval.runbook_store import index_runbooks
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, INTAKE, SlackHarness, wait_for

RUNBOOK = """---
title: Orders database failover
---
# Orders database failover

## Symptoms
Orders API returns 500, orders database primary unreachable.

## Fail over
Promote the replica with `patronictl failover orders`, then check replication lag.
"""


def mention(text: str, ts: str = "1700000200.000100", channel: str = CHANNEL, **extra: Any) -> dict[str, Any]:
    return {"type": "app_mention", "channel": channel, "user": "U0BOB", "text": text, "ts": ts, **extra}


def thread_replies(api: FakeSlackAPI, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in api.posts(channel) if m.get("thread_ts") == ts]


def test_mention_without_answers_points_to_indexing(slack: SlackHarness, fake_slack: FakeSlackAPI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "ANSWER_MODULES", ())
    slack.event(mention("<@UBOT> how do I fail over the orders database?"), event_id="EvM")
    reply = wait_for(lambda: thread_replies(fake_slack, CHANNEL, "1700000200.000100"), what="answer")[0]
    assert "no runbooks are indexed" in json.dumps(reply["blocks"])
    slack.event(mention("<@UBOT> how do I fail over the orders database?"), event_id="EvM", retry=1)
    time.sleep(0.4)
    assert len(thread_replies(fake_slack, CHANNEL, "1700000200.000100")) == 1


@dataclass(frozen=True)
class Cite:
    runbook: str
    section: str


@dataclass(frozen=True)
class Answer:
    answer: str
    citations: list[Cite]


def test_mention_and_dm_are_answered_with_citations(slack: SlackHarness, fake_slack: FakeSlackAPI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def answer_question(services: object, question: str, tenant: str = "default") -> Answer:
        assert tenant == "acme"  # the workspace's tenant (BALLAST_SLACK_TENANTS)
        asked.append(question)
        return Answer("Promote the replica with `patronictl failover orders`.",
                      [Cite("database/orders-failover", "Fail over")])

    monkeypatch.setattr(messages, "_answer_function", lambda: answer_question)
    slack.event(mention("<@UBOT> how do I fail over the orders database?", thread_ts="1700000000.000001"))
    reply = wait_for(lambda: thread_replies(fake_slack, CHANNEL, "1700000000.000001"), what="answer")[0]
    dumped = json.dumps(reply["blocks"])
    assert "patronictl failover orders" in dumped
    assert "database/orders-failover \\u00a7 Fail over" in dumped and "Matched runbook" in dumped
    assert asked == ["how do I fail over the orders database?"]

    slack.event({"type": "message", "channel": "D0DM", "channel_type": "im", "user": "U0BOB",
                 "text": "is checkout down?", "ts": "1700000300.000100"})
    wait_for(lambda: thread_replies(fake_slack, "D0DM", "1700000300.000100"), what="DM answer")
    assert asked[-1] == "is checkout down?"


def test_mention_in_intake_channel_is_a_question_not_a_report(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    text = "<@UBOT> what is the runbook for orders?"
    slack.event({"type": "message", "channel": INTAKE, "channel_type": "channel", "user": "U0BOB", "text": text,
                 "ts": "1700000400.000100"})
    slack.event(mention(text, ts="1700000400.000100", channel=INTAKE))
    wait_for(lambda: thread_replies(fake_slack, INTAKE, "1700000400.000100"), what="answer")
    time.sleep(0.3)
    assert [m for m in fake_slack.posts(INTAKE) if not m.get("thread_ts")] == []


@pytest.fixture
def indexed(slack: SlackHarness, tmp_path: Path) -> SlackHarness:
    folder = tmp_path / "runbooks" / "database"
    folder.mkdir(parents=True)
    (folder / "orders-failover.md").write_text(RUNBOOK)
    services = slack.services
    index_runbooks(services.runbook_index, services.embedder, tmp_path / "runbooks", lambda line: None)
    services.__dict__.pop("runbook_library", None)  # re-read: the library is cached empty-or-absent
    services.__dict__.pop("intake", None)
    assert services.runbook_library is not None
    return slack


def test_runbook_command_and_show_runbook(indexed: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    indexed.command("/runbook", "orders database primary unreachable")
    found = wait_for(lambda: fake_slack.state.responses, what="search results")[0]
    assert "database/orders-failover" in json.dumps(found["blocks"])

    indexed.command("/incident", "orders database primary unreachable, orders API returns 500")
    card = wait_for(lambda: fake_slack.posts(CHANNEL), what="card")[0]
    assert "database/orders-failover" in json.dumps(card["blocks"])
    indexed.click(Ids.SHOW_RUNBOOK.value, "1", card["ts"])
    shown = wait_for(lambda: [r for r in fake_slack.state.responses if "patronictl" in r["text"]], what="runbook")
    assert shown[0]["response_type"] == "ephemeral"


def test_mention_is_answered_from_indexed_runbooks(indexed: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    indexed.event(mention("<@UBOT> how do I fail over the orders database?", ts="1700000500.000100"))
    reply = wait_for(lambda: thread_replies(fake_slack, CHANNEL, "1700000500.000100"), what="answer")[0]
    dumped = json.dumps(reply["blocks"])
    assert "patronictl failover orders" in dumped
    assert "Sources:" in dumped and "database/orders-failover" in dumped
