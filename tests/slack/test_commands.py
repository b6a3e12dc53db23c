"""Slash commands through the real Bolt app: each acks at once, then does its work in the background."""

from __future__ import annotations

import json

from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, SlackHarness, wait_for


def card_posts(api: FakeSlackAPI) -> list[dict]:
    return [m for m in api.posts(CHANNEL) if not m.get("thread_ts")]


def test_incident_posts_a_card_and_a_repeat_goes_to_its_thread(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    first = slack.command("/incident", "checkout returns 502 for EU users")
    assert first.status_code == 200 and "Filing" in first.json()["text"]
    card = wait_for(lambda: card_posts(fake_slack), what="the incident card")[0]
    dumped = json.dumps(card["blocks"])
    assert "INC-1" in dumped and "Acknowledge" in dumped and "Occurrences" in dumped

    slack.command("/incident", "checkout returns 502 for EU users")
    reply = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == card["ts"]],
                     what="the thread reply")[0]
    assert "Occurrence #2" in json.dumps(reply["blocks"])
    wait_for(lambda: fake_slack.calls("chat.update"), what="the card update")
    assert len(card_posts(fake_slack)) == 1
    assert "*Occurrences*\\n2" in json.dumps(fake_slack.posts(CHANNEL)[0]["blocks"])


def test_incident_tenant_comes_from_the_team(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    from sqlmodel import Session, select

    from bot.models import Incident

    slack.command("/incident", "payments queue is stuck")
    wait_for(lambda: card_posts(fake_slack), what="the card")
    with Session(slack.services.engine) as session:
        rows = session.exec(select(Incident)).all()
    assert [r.tenant for r in rows] == ["acme"] and rows[0].source == "slack"


def test_empty_incident_gets_usage_and_does_nothing(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    response = slack.command("/incident", "   ")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and "Usage" in body["text"]
    assert not fake_slack.calls("chat.postMessage")


def test_scoring_commands_are_not_configured_yet(slack: SlackHarness) -> None:
    for command in ("/budget", "/scorecard", "/risk"):
        body = slack.command(command, "checkout").json()
        assert body["response_type"] == "ephemeral"
        assert "not configured yet" in body["text"] and command in body["text"]


def test_help_and_unknown_subcommand(slack: SlackHarness) -> None:
    helped = slack.command("/ballast", "help").json()
    assert "/incident" in json.dumps(helped["blocks"])
    unknown = slack.command("/ballast", "frobnicate now").json()
    assert unknown["response_type"] == "ephemeral" and "frobnicate" in unknown["text"]
    assert "/runbook" in json.dumps(unknown["blocks"])


def test_unknown_command_gets_help(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    body = slack.command("/ballast-old", "anything").json()
    assert body["response_type"] == "ephemeral" and "/ballast-old" in body["text"]
    assert "/incident" in json.dumps(body["blocks"])
    assert not fake_slack.calls("chat.postMessage")


def test_runbook_without_runbooks_says_so(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    assert slack.command("/runbook", "").json()["response_type"] == "ephemeral"
    assert slack.command("/runbook", "orders database failover").status_code == 200
    answer = wait_for(lambda: fake_slack.state.responses, what="the response_url answer")[0]
    assert "No runbooks are indexed" in answer["text"]


def test_expired_response_url_falls_back_to_the_web_api(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    fake_slack.state.expired_responses = True
    slack.command("/runbook", "orders database failover")
    call = wait_for(lambda: fake_slack.calls("chat.postEphemeral"), what="the fallback")[0]
    assert "No runbooks are indexed" in call.params["text"]
