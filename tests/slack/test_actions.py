"""Card and question buttons through the real Bolt app: state changes redraw the card in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from bot.blocks.ids import Ids
from bot.models import Incident
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, SlackHarness, wait_for


def file_card(slack: SlackHarness, api: FakeSlackAPI, text: str, n: int = 1) -> dict[str, Any]:
    slack.command("/incident", text)
    cards = wait_for(lambda: [m for m in api.posts(CHANNEL) if not m.get("thread_ts")][n - 1:], what="card")
    return cards[0]


def incident(slack: SlackHarness, incident_id: int) -> Incident:
    with Session(slack.services.engine) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def updated(api: FakeSlackAPI, ts: str, count: int = 1) -> dict[str, Any]:
    wait_for(lambda: len([c for c in api.calls("chat.update") if c.params["ts"] == ts]) >= count, what="chat.update")
    return next(m for m in api.posts(CHANNEL) if m["ts"] == ts)


def button_ids(message: dict[str, Any]) -> list[str]:
    return [el["action_id"] for b in message["blocks"] if b["type"] == "actions" for el in b["elements"]]


def test_acknowledge_then_resolve_update_the_card(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "orders api latency above 2s")
    assert slack.click(Ids.ACKNOWLEDGE.value, "1", card["ts"]).status_code == 200
    message = updated(fake_slack, card["ts"])
    assert incident(slack, 1).status == "acknowledged"
    assert "Acknowledged" in json.dumps(message["blocks"]) and Ids.ACKNOWLEDGE.value not in button_ids(message)

    slack.click(Ids.RESOLVE.value, "1", card["ts"])
    message = updated(fake_slack, card["ts"], 2)
    assert incident(slack, 1).status == "resolved"
    assert button_ids(message) == [Ids.SHOW_RUNBOOK.value]


def test_button_on_resolved_or_deleted_incident_explains(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "search index build failing")
    slack.click(Ids.RESOLVE.value, "1", card["ts"])
    updated(fake_slack, card["ts"])
    slack.click(Ids.ACKNOWLEDGE.value, "1", card["ts"])
    said = wait_for(lambda: fake_slack.state.responses, what="ephemeral explanation")
    assert "already resolved" in said[0]["text"] and said[0]["response_type"] == "ephemeral"
    assert incident(slack, 1).status == "resolved"

    slack.click(Ids.RESOLVE.value, "999", card["ts"])
    wait_for(lambda: any("no longer exists" in r["text"] for r in fake_slack.state.responses), what="deleted note")


def test_snooze_shows_on_the_card(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "disk almost full on build agents")
    slack.click(Ids.SNOOZE_4H.value, "1", card["ts"])
    assert "snoozed until" in json.dumps(updated(fake_slack, card["ts"])["blocks"])
    assert slack.services.engine is not None and incident(slack, 1).status == "open"


def test_show_runbook_without_a_match(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "cache hit ratio dropped")
    slack.click(Ids.SHOW_RUNBOOK.value, "1", card["ts"])
    said = wait_for(lambda: fake_slack.state.responses, what="runbook reply")
    assert "No runbook matched INC-1" in said[0]["text"]


def test_regression_links_the_resolved_incident(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "payment webhook signature check fails")
    slack.click(Ids.RESOLVE.value, "1", card["ts"])
    updated(fake_slack, card["ts"])
    second = file_card(slack, fake_slack, "payment webhook signature check fails", n=2)
    note = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == second["ts"]], what="note")
    text = json.dumps(note[0]["blocks"])
    assert "INC-1" in text and "resolved" in text and "archives/" in text
    assert incident(slack, 2).regression_of == 1


def uncertain(make_slack: Callable[..., SlackHarness], api: FakeSlackAPI) -> tuple[SlackHarness, dict[str, Any]]:
    """Two related reports under thresholds that make the second an uncertain match of the first."""
    slack = make_slack(dedup_human_threshold=0.99, dedup_human_candidate=0.2)
    file_card(slack, api, "checkout returns 502 errors for EU users")
    second = file_card(slack, api, "checkout returns 503 errors for users in Germany", n=2)
    question = wait_for(lambda: [m for m in api.posts(CHANNEL) if m.get("thread_ts") == second["ts"]], what="question")
    return slack, question[0]


def test_uncertain_match_same_incident_merges(make_slack: Callable[..., SlackHarness], fake_slack: FakeSlackAPI) -> None:
    slack, question = uncertain(make_slack, fake_slack)
    text = question["blocks"][0]["text"]["text"]
    assert text.startswith(":thinking_face: Looks like <https://slack.com/archives/")
    assert "|INC-1> (checkout returns 502 errors for EU users): same incident?" in text
    assert button_ids(question) == [Ids.SAME_INCIDENT.value, Ids.NEW_INCIDENT.value]
    slack.click(Ids.SAME_INCIDENT.value, "2:1", question["ts"])
    answered = updated(fake_slack, question["ts"])
    assert "merged INC-2 into INC-1" in json.dumps(answered["blocks"]) and not button_ids(answered)
    assert incident(slack, 2).merged_into == 1 and incident(slack, 1).occurrence_count == 2

    slack.click(Ids.SAME_INCIDENT.value, "2:1", question["ts"])  # a second click changes nothing
    wait_for(lambda: any("Already answered" in r["text"] for r in fake_slack.state.responses), what="note")
    assert incident(slack, 1).occurrence_count == 2


def test_uncertain_match_new_incident_confirms(make_slack: Callable[..., SlackHarness], fake_slack: FakeSlackAPI) -> None:
    slack, question = uncertain(make_slack, fake_slack)
    slack.click(Ids.NEW_INCIDENT.value, "2:1", question["ts"])
    answered = updated(fake_slack, question["ts"])
    assert "is a new incident" in json.dumps(answered["blocks"])
    assert incident(slack, 2).merged_into is None and incident(slack, 2).status == "open"


def test_a_redrawn_card_keeps_its_similar_past_incidents(make_slack: Callable[..., SlackHarness],
                                                         fake_slack: FakeSlackAPI) -> None:
    slack = make_slack(dedup_human_threshold=0.99, dedup_human_candidate=0.985)  # look-alikes stay apart
    first = file_card(slack, fake_slack, "orders database connection pool exhausted in eu-west")
    slack.click(Ids.RESOLVE.value, "1", first["ts"])
    updated(fake_slack, first["ts"])
    second = file_card(slack, fake_slack, "orders database connection pool exhausted in eu-west again", n=2)
    assert incident(slack, 2).regression_of is None
    assert "INC-1" in json.dumps(second["blocks"])  # posted with the resolved look-alike
    slack.click(Ids.ACKNOWLEDGE.value, "2", second["ts"])
    redrawn = updated(fake_slack, second["ts"])
    assert "Acknowledged" in json.dumps(redrawn["blocks"]) and "INC-1" in json.dumps(redrawn["blocks"])
