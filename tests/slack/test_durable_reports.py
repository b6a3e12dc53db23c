"""Reports filed in Slack are committed to the inbox before any work: a process that dies right after the
ack loses nothing, and the next one posts their cards where they were filed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from bot.app import Services
from bot.models import InboxEntry
from bot.slack import outbox
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, INTAKE, SECRET, TEAM, Backend, SlackHarness, wait_for


def inbox_rows(services: Services) -> list[tuple[str, dict[str, Any]]]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(InboxEntry.status, InboxEntry.reply).order_by(InboxEntry.id)).all()  # type: ignore[call-overload]
    return [(status, json.loads(reply) if reply else {}) for status, reply in rows]


def cards(api: FakeSlackAPI, channel: str) -> list[dict[str, Any]]:
    return [m for m in api.posts(channel) if not m.get("thread_ts")]


def test_reports_acked_before_a_crash_get_their_cards_after_the_restart(
        make_slack: Callable[..., SlackHarness], make_services: Callable[..., Services], fake_slack: FakeSlackAPI) -> None:
    dying = make_slack(backend=False)  # acks and commits, but dies before deciding or posting anything
    ack = dying.command("/incident", "checkout returns 502 for EU users", trigger_id="trig-1")
    assert ack.status_code == 200 and "Filing" in ack.json()["text"]
    dying.event({"type": "message", "channel": INTAKE, "user": "U0BOB", "text": "search is down for everyone",
                 "ts": "1700000500.000100", "channel_type": "channel"})
    rows = wait_for(lambda: len(inbox_rows(dying.services)) == 2 and inbox_rows(dying.services), what="both reports")
    assert [status for status, _ in rows] == ["pending", "pending"]
    assert rows[0][1] == {"origin": "command", "channel": CHANNEL, "user": "U0ALICE", "event_key": "trig-1",
                          "response_url": fake_slack.response_url("trig-1")}
    assert rows[1][1]["channel"] == INTAKE and rows[1][1]["event_key"] == f"{INTAKE}:1700000500.000100"
    assert fake_slack.calls("chat.postMessage") == []

    restarted = make_services(None, slack_bot_token=SecretStr("xoxb-test"), slack_signing_secret=SecretStr(SECRET),
                              slack_api_url=fake_slack.url, slack_intake_channels=INTAKE, slack_tenants=f"{TEAM}=acme")
    backend = Backend(restarted).start()
    try:
        [card] = wait_for(lambda: cards(fake_slack, CHANNEL), what="the command's card")
        [message_card] = wait_for(lambda: cards(fake_slack, INTAKE), what="the message's card")
        assert "checkout returns 502" in json.dumps(card["blocks"])
        assert "search is down" in json.dumps(message_card["blocks"])
        assert [status for status, _ in inbox_rows(restarted)] == ["done", "done"]
        wait_for(lambda: outbox.counts(restarted.engine) == {"done": 2}, what="the notices done")
    finally:
        backend.stop()


def test_a_repeated_incident_tells_the_reporter_where_it_went(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    slack.command("/incident", "payments queue is stuck", trigger_id="first")
    [card] = wait_for(lambda: cards(fake_slack, CHANNEL), what="the card")
    slack.command("/incident", "payments queue is stuck", trigger_id="second")
    wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == card["ts"]], what="the reply")
    told = wait_for(lambda: [r for r in fake_slack.state.responses if r["name"] == "second"], what="the word")
    assert "Added to INC-1" in told[0]["text"]
    assert not [r for r in fake_slack.state.responses if r["name"] == "first" and "Added" in str(r.get("text"))]


def test_a_channel_the_bot_is_not_in_gets_a_private_note_and_the_report_is_kept(
        slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    fake_slack.state.errors["chat.postMessage"] = "not_in_channel"
    slack.command("/incident", "vpn drops every ten minutes", trigger_id="lonely")
    told = wait_for(lambda: [r for r in fake_slack.state.responses if r["name"] == "lonely"], what="the note")
    assert "Invite me" in told[0]["text"] and "stored" in told[0]["text"]
    # The note goes out before the notice is marked skipped (another thread): wait for that mark.
    wait_for(lambda: outbox.counts(slack.services.engine) == {"skipped": 1}, what="the notice marked skipped")
    assert [status for status, _ in inbox_rows(slack.services)] == ["done"]  # the report itself is stored
    time.sleep(0.2)  # nothing is retried behind the note
    assert len([r for r in fake_slack.state.responses if r["name"] == "lonely"]) == 1
