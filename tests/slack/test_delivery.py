"""Slack's delivery rules: signatures, retried deliveries, 429 storms and lost responses."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, func, select

from bot.models import Incident, SignalRecord
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, INTAKE, SlackHarness, sign, wait_for


def counts(slack: SlackHarness) -> tuple[int, int]:
    with Session(slack.services.engine) as session:
        return (session.exec(select(func.count()).select_from(Incident)).one(),
                session.exec(select(func.count()).select_from(SignalRecord)).one())


def command_body(text: str) -> str:
    return urlencode({"team_id": "T1", "channel_id": CHANNEL, "user_id": "U1", "command": "/incident",
                      "text": text, "trigger_id": "t1", "response_url": "http://127.0.0.1:9/never"})


@pytest.mark.parametrize("headers", [
    {"X-Slack-Signature": "v0=" + "0" * 64},  # forged
    "stale",
    "wrong-secret",
    {},  # unsigned
])
def test_bad_signatures_get_401_and_nothing_happens(slack: SlackHarness, fake_slack: FakeSlackAPI,
                                                    headers: object) -> None:
    body = command_body("database is on fire")
    if headers == "stale":
        signed = sign(body, timestamp=int(time.time()) - 6 * 60)
    elif headers == "wrong-secret":
        signed = sign(body, secret="not-the-secret")
    elif headers:
        signed = {"X-Slack-Request-Timestamp": str(int(time.time())), **headers}  # type: ignore[dict-item]
    else:
        signed = {}
    response = slack.send(body, "application/x-www-form-urlencoded", signed=signed)
    assert response.status_code == 401
    time.sleep(0.3)  # give any (wrongly) started background work time to show up
    assert counts(slack) == (0, 0)
    assert not fake_slack.calls("chat.postMessage")


def message_event(text: str, ts: str = "1700000100.000100", channel: str = INTAKE, **extra: object) -> dict:
    return {"type": "message", "channel": channel, "user": "U0BOB", "text": text, "ts": ts,
            "channel_type": "channel", **extra}


def test_intake_channel_message_becomes_an_incident(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    assert slack.event(message_event("login page times out for everyone")).status_code == 200
    card = wait_for(lambda: fake_slack.posts(INTAKE), what="card")[0]
    assert "login page times out" in json.dumps(card["blocks"])
    # thread replies, other channels, edits and bot posts are not reports
    slack.event(message_event("any update?", ts="1700000100.000200", thread_ts=card["ts"]))
    slack.event(message_event("lunch?", ts="1700000100.000300", channel="C0RANDOM"))
    slack.event(message_event("edited", ts="1700000100.000400", subtype="message_changed"))
    slack.event(message_event("a bot says hi", ts="1700000100.000500", bot_id="B0OTHER"))
    time.sleep(0.5)
    assert counts(slack) == (1, 1) and len(fake_slack.calls("chat.postMessage")) == 1


def test_retried_event_delivery_never_posts_twice(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    event = message_event("orders service returns 500 on checkout")
    slack.event(event, event_id="Ev1")
    wait_for(lambda: fake_slack.posts(INTAKE), what="card")
    for retry in (1, 2, 3):
        assert slack.event(event, event_id="Ev1", retry=retry).status_code == 200
    time.sleep(0.5)
    assert counts(slack) == (1, 1)
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_repeat_report_in_intake_channel_goes_to_the_thread_once(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    slack.event(message_event("orders service returns 500 on checkout", ts="1.1"))
    card = wait_for(lambda: fake_slack.posts(INTAKE), what="card")[0]
    repeat = message_event("orders service returns 500 on checkout", ts="1.2")
    slack.event(repeat, event_id="EvR")
    wait_for(lambda: [m for m in fake_slack.posts(INTAKE) if m.get("thread_ts") == card["ts"]], what="reply")
    slack.event(repeat, event_id="EvR", retry=1)
    time.sleep(0.5)
    assert len([m for m in fake_slack.posts(INTAKE) if m.get("thread_ts") == card["ts"]]) == 1
    assert counts(slack) == (1, 2)


def test_429_storm_loses_no_message(slack: SlackHarness, fake_slack: FakeSlackAPI, no_jitter: None) -> None:
    slack.command("/ballast", "help")  # Bolt's first request calls auth.test: the storm is for the posts
    wait_for(lambda: fake_slack.calls("auth.test"), what="auth.test")
    fake_slack.state.rate_limited = 30
    texts = ["alpha checkout returns 502 to EU users", "bravo payments queue backlog keeps growing",
             "charlie search index rebuild stuck", "delta ledger replication lag over an hour",
             "echo TLS certificate expired on the gateway", "foxtrot auth tokens rejected after rotation",
             "golf inventory sync job OOM killed", "hotel billing emails not being sent"]
    with ThreadPoolExecutor(8) as pool:
        acks = list(pool.map(lambda t: slack.command("/incident", t), texts))
    assert all(a.status_code == 200 for a in acks)
    wait_for(lambda: len(fake_slack.posts(CHANNEL)) >= len(texts), timeout=30, what="all cards")
    assert fake_slack.state.limited_calls == 30
    posted = sorted(json.dumps(m["blocks"]) for m in fake_slack.posts(CHANNEL))
    assert len(posted) == len(texts)
    for text in texts:
        assert sum(text.split()[0] in p for p in posted) == 1


def test_repeats_during_a_rate_limited_card_reach_its_thread(slack: SlackHarness, fake_slack: FakeSlackAPI,
                                                             no_jitter: None) -> None:
    slack.command("/ballast", "help")
    wait_for(lambda: fake_slack.calls("auth.test"), what="auth.test")
    fake_slack.state.rate_limited = 60  # the card's post waits out 60 429s while the repeats arrive
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: slack.command("/incident", "orders API returns 500 on checkout"), range(6)))
    card = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if not m.get("thread_ts")], timeout=30,
                    what="the card")[0]
    wait_for(lambda: len([m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == card["ts"]]) == 5,
             timeout=30, what="five thread replies")
    assert len([m for m in fake_slack.posts(CHANNEL) if not m.get("thread_ts")]) == 1


def test_retry_after_is_honoured(slack: SlackHarness, fake_slack: FakeSlackAPI, no_jitter: None) -> None:
    slack.command("/ballast", "help")  # Bolt's first request calls auth.test; get it out of the way
    wait_for(lambda: fake_slack.calls("auth.test"), what="auth.test")
    fake_slack.state.rate_limited, fake_slack.state.retry_after = 1, 1
    slack.command("/incident", "kafka consumer lag growing")
    wait_for(lambda: fake_slack.posts(CHANNEL), what="card")
    limited, ok = fake_slack.calls("chat.postMessage")
    assert (limited.status, ok.status) == (429, 200)
    assert ok.at - limited.at >= 1.0  # Retry-After: 1 was waited out


def test_lost_response_is_not_posted_again(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    fake_slack.state.drop_after["chat.postMessage"] = 1
    slack.command("/incident", "dns resolution failing in eu-west")
    wait_for(lambda: fake_slack.calls("conversations.history"), what="the lookup after the lost response")
    time.sleep(0.3)
    assert len(fake_slack.posts(CHANNEL)) == 1
    # the card was recorded from the lookup, so the repeat threads under it
    slack.command("/incident", "dns resolution failing in eu-west")
    card = fake_slack.posts(CHANNEL)[0]
    wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == card["ts"]], what="reply")
