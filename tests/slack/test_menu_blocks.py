"""The card menu, the merge picker and the split/merge notes stay inside Block Kit's limits."""

from __future__ import annotations

import json

from bot.blocks.ids import Ids
from bot.blocks.incident import card_menu, incident_card, merge_picker, merged_note, split_note
from bot.blocks.limits import OPTION_TEXT, OPTION_VALUE, SELECT_OPTIONS
from bot.blocks.views import IncidentChoice
from tests.slack.test_blocks import check_limits, view


def check_options(options: list[dict]) -> None:
    for option in options:
        assert len(option["text"]["text"]) <= OPTION_TEXT
        assert len(option["value"]) <= OPTION_VALUE


def test_menu_follows_state() -> None:
    def values(**over: object) -> list[str]:
        blocks = check_limits(incident_card(view(**over)))["blocks"]
        menus = [b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "overflow"]
        for menu in menus:
            assert menu["action_id"] == Ids.CARD_MENU.value and 1 <= len(menu["options"]) <= 5
            check_options(menu["options"])
        return [o["value"] for m in menus for o in m["options"]]

    assert values() == ["merge:42", "split:42"]
    assert values(occurrence_count=1) == ["merge:42"]
    assert values(status="acknowledged") == ["merge:42", "split:42"]
    assert values(status="resolved") == [] and values(merged_into=7) == []
    assert card_menu(view(status="resolved")) is None


def test_merge_picker_at_and_past_the_option_limit() -> None:
    long = "é" * 5000
    for n in (0, 1, SELECT_OPTIONS, SELECT_OPTIONS + 1, 300):
        choices = [IncidentChoice(1000 + i, long, "open") for i in range(n)]
        blocks = check_limits(merge_picker(view(title=long), choices))["blocks"]
        assert len(blocks) == 1
        if n == 0:
            assert "no other open incident" in blocks[0]["text"]["text"]
            continue
        select = blocks[0]["accessory"]
        assert select["action_id"] == Ids.MERGE_PICK.value
        assert len(select["options"]) == min(n, SELECT_OPTIONS)
        check_options(select["options"])
        assert select["options"][0]["value"] == "42:1000"
        assert ("most recent" in blocks[0]["text"]["text"]) == (n > SELECT_OPTIONS)


def test_merge_picker_never_offers_the_incident_itself() -> None:
    blocks = check_limits(merge_picker(view(), [IncidentChoice(42, "me", "open"), IncidentChoice(7, "x", "open")]))
    assert [o["value"] for o in blocks["blocks"][0]["accessory"]["options"]] == ["42:7"]
    only_self = check_limits(merge_picker(view(), [IncidentChoice(42, "me", "open")]))
    assert "no other open incident" in json.dumps(only_self)


def test_split_and_merge_notes_past_limits() -> None:
    note = check_limits(split_note(41, view(title="t" * 10_000, link="https://slack.test/archives/C1/p1"), "U1"))
    dumped = json.dumps(note)
    assert "split the last report out of INC-41 into <https://slack.test/archives/C1/p1|INC-42>" in dumped
    assert "merged INC-3 into INC-1" in json.dumps(check_limits(merged_note(3, 1, None)))
