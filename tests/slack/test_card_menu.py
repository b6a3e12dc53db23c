"""Labelled answers and the card's overflow menu through the real Bolt app and the fake Slack Web API:
Same/New answers store a pair, "Merge into another incident..." picks a target and merges, "Split
the last report out" opens a new incident; clicks on dead incidents get an ephemeral explanation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from bot import labels
from bot.blocks.ids import Ids
from bot.models import PairLabel
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import CHANNEL, TEAM, USER, SlackHarness, wait_for
from tests.slack.test_actions import file_card, incident, uncertain, updated


def taught(slack: SlackHarness) -> list[PairLabel]:
    with Session(slack.services.engine) as session:
        return labels.labels_for(session, "acme")


def choose(slack: SlackHarness, action_id: str, value: str, message_ts: str, kind: str = "overflow",
           team: str = TEAM) -> Any:
    """A block_actions payload for a menu or select choice (the value is in `selected_option`)."""
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    return slack.act({"action_id": action_id, "type": kind, "selected_option": option}, message_ts, team=team)


def menu_values(message: dict[str, Any]) -> list[str]:
    return [o["value"] for b in message["blocks"] if b.get("accessory", {}).get("type") == "overflow"
            for o in b["accessory"]["options"]]


def responses(api: FakeSlackAPI, needle: str) -> list[dict[str, Any]]:
    return [r for r in api.state.responses if needle in json.dumps(r)]


def test_same_answer_stores_a_labelled_pair(make_slack: Callable[..., SlackHarness], fake_slack: FakeSlackAPI) -> None:
    slack, question = uncertain(make_slack, fake_slack)
    slack.click(Ids.SAME_INCIDENT.value, "2:1", question["ts"])
    updated(fake_slack, question["ts"])
    [label] = wait_for(lambda: taught(slack), what="label")
    assert (label.first_id, label.second_id, label.same, label.via, label.answered_by) == (1, 2, True, "question", USER)
    assert label.kind == "human" and label.score is not None and 0.2 <= label.score < 0.99


def test_new_answer_stores_a_labelled_pair_and_a_second_answer_replaces_it(
        make_slack: Callable[..., SlackHarness], fake_slack: FakeSlackAPI) -> None:
    slack, question = uncertain(make_slack, fake_slack)
    slack.click(Ids.NEW_INCIDENT.value, "2:1", question["ts"])
    updated(fake_slack, question["ts"])
    [label] = wait_for(lambda: taught(slack), what="label")
    assert (label.same, label.via, label.answered_by) == (False, "question", USER)
    slack.click(Ids.SAME_INCIDENT.value, "2:1", question["ts"])  # changed their mind
    wait_for(lambda: incident(slack, 2).merged_into == 1, what="merge")
    [label] = wait_for(lambda: [l for l in taught(slack) if l.same], what="replaced label")
    assert len(taught(slack)) == 1


def test_overflow_merge_picks_a_target_and_merges(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    first = file_card(slack, fake_slack, "orders api latency above 2s")
    file_card(slack, fake_slack, "search index build failing", n=2)
    third = file_card(slack, fake_slack, "payment webhook signature check fails", n=3)
    assert menu_values(third) == ["merge:3"]  # one report: nothing to split yet
    choose(slack, Ids.CARD_MENU.value, "merge:3", third["ts"])
    picker = wait_for(lambda: responses(fake_slack, Ids.MERGE_PICK.value), what="merge picker")[0]
    assert picker["response_type"] == "ephemeral"
    select = picker["blocks"][0]["accessory"]
    assert "Merge INC-3" in picker["blocks"][0]["text"]["text"]
    assert [o["value"] for o in select["options"]] == ["3:2", "3:1"]  # live incidents, most recent first

    choose(slack, Ids.MERGE_PICK.value, "3:1", third["ts"], kind="static_select")
    wait_for(lambda: incident(slack, 3).merged_into == 1, what="merge")
    assert incident(slack, 1).occurrence_count == 2
    assert "Merged into INC-1" in json.dumps(updated(fake_slack, third["ts"])["blocks"])
    assert "*Occurrences*\\n2" in json.dumps(updated(fake_slack, first["ts"])["blocks"])
    note = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == first["ts"]], what="note")
    assert "merged INC-3 into INC-1" in json.dumps(note[0]["blocks"])
    [label] = taught(slack)
    assert (label.first_id, label.second_id, label.same, label.via, label.answered_by) == (1, 3, True, "merge", USER)

    # The picker's choice again, or the menu of the merged card: explained, nothing changes.
    choose(slack, Ids.MERGE_PICK.value, "3:1", third["ts"], kind="static_select")
    wait_for(lambda: responses(fake_slack, "INC-3 was merged into INC-1"), what="explanation")
    choose(slack, Ids.CARD_MENU.value, "split:3", third["ts"])
    wait_for(lambda: len(responses(fake_slack, "INC-3 was merged into INC-1")) == 2, what="second explanation")
    assert incident(slack, 1).occurrence_count == 2


def test_overflow_merge_into_a_resolved_incident_is_explained(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    first = file_card(slack, fake_slack, "orders api latency above 2s")
    second = file_card(slack, fake_slack, "search index build failing", n=2)
    slack.click(Ids.RESOLVE.value, "1", first["ts"])
    updated(fake_slack, first["ts"])
    choose(slack, Ids.CARD_MENU.value, "merge:2", second["ts"])
    wait_for(lambda: responses(fake_slack, "no other open incident"), what="empty picker")
    choose(slack, Ids.MERGE_PICK.value, "2:1", second["ts"], kind="static_select")  # a stale picker
    wait_for(lambda: responses(fake_slack, "INC-1 is already resolved"), what="explanation")
    assert incident(slack, 2).merged_into is None and taught(slack) == []


def test_overflow_split_moves_the_last_report_out(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "checkout returns 502 errors for EU users")
    slack.command("/incident", "checkout returns 502 errors for EU users")
    wait_for(lambda: incident(slack, 1).occurrence_count == 2, what="second report")
    card = updated(fake_slack, card["ts"])
    assert menu_values(card) == ["merge:1", "split:1"]

    choose(slack, Ids.CARD_MENU.value, "split:1", card["ts"])
    cards = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if not m.get("thread_ts")][1:], what="new card")
    assert "INC-2" in cards[0]["blocks"][0]["text"]["text"]
    assert incident(slack, 1).occurrence_count == 1 and incident(slack, 2).occurrence_count == 1
    assert "*Occurrences*\\n1" in json.dumps(updated(fake_slack, card["ts"], 2)["blocks"])
    note = wait_for(lambda: [m for m in fake_slack.posts(CHANNEL) if m.get("thread_ts") == card["ts"]
                             and "split the last report" in json.dumps(m["blocks"])], what="split note")
    assert "INC-2" in json.dumps(note[0]["blocks"])
    [label] = taught(slack)
    assert (label.first_id, label.second_id, label.same, label.via, label.answered_by) == (1, 2, False, "split", USER)

    # Splitting the one report left is refused with the reason.
    choose(slack, Ids.CARD_MENU.value, "split:1", card["ts"])
    wait_for(lambda: responses(fake_slack, "only one report"), what="refusal")


def test_menu_on_a_deleted_or_resolved_incident_explains(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    card = file_card(slack, fake_slack, "disk almost full on build agents")
    choose(slack, Ids.CARD_MENU.value, "merge:999", card["ts"])
    wait_for(lambda: responses(fake_slack, "INC-999 no longer exists"), what="deleted note")
    slack.click(Ids.RESOLVE.value, "1", card["ts"])
    assert menu_values(updated(fake_slack, card["ts"])) == []  # no menu on a resolved card
    choose(slack, Ids.CARD_MENU.value, "split:1", card["ts"])
    said = wait_for(lambda: responses(fake_slack, "INC-1 is already resolved"), what="resolved note")
    assert said[0]["response_type"] == "ephemeral"


def test_another_workspace_cannot_reach_this_tenants_incidents(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    first = file_card(slack, fake_slack, "orders api latency above 2s")
    second = file_card(slack, fake_slack, "search index build failing", n=2)
    choose(slack, Ids.MERGE_PICK.value, "2:1", second["ts"], kind="static_select", team="T0OTHER")
    choose(slack, Ids.CARD_MENU.value, "merge:1", first["ts"], team="T0OTHER")
    wait_for(lambda: len(responses(fake_slack, "no longer exists")) == 2, what="explanations")
    assert incident(slack, 2).merged_into is None and taught(slack) == []
    assert not responses(fake_slack, Ids.MERGE_PICK.value)  # no picker listing acme's incidents


def test_card_buttons_from_another_workspace_act_on_nothing(make_slack: Callable[..., SlackHarness],
                                                            fake_slack: FakeSlackAPI) -> None:
    slack, question = uncertain(make_slack, fake_slack)
    card = file_card(slack, fake_slack, "payments webhook retries piling up", n=3)
    for action in (Ids.ACKNOWLEDGE.value, Ids.RESOLVE.value, Ids.SHOW_RUNBOOK.value):
        slack.click(action, "3", card["ts"], team="T0OTHER")
    slack.click(Ids.SAME_INCIDENT.value, "2:1", question["ts"], team="T0OTHER")
    wait_for(lambda: len(responses(fake_slack, "no longer exists")) == 4, what="explanations")
    assert incident(slack, 3).status == "open" and incident(slack, 2).merged_into is None
    assert taught(slack) == []
    slack.click(Ids.ACKNOWLEDGE.value, "3", card["ts"])  # the incident's own workspace still can
    wait_for(lambda: incident(slack, 3).status == "acknowledged", what="acknowledged by its own workspace")
