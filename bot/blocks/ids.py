"""Every block_id and action_id Ballast puts in a Slack message, in one enum.

Listeners match on these values, so renaming one here renames it everywhere at once.
"""

from __future__ import annotations

from enum import StrEnum


class Ids(StrEnum):
    # blocks
    CARD_HEADER = "ballast_card_header"
    CARD_FIELDS = "ballast_card_fields"
    CARD_RUNBOOK = "ballast_card_runbook"
    CARD_SIMILAR = "ballast_card_similar"
    CARD_CONTEXT = "ballast_card_context"
    CARD_ACTIONS = "ballast_card_actions"
    REPLY = "ballast_reply"
    QUESTION = "ballast_question"
    QUESTION_ACTIONS = "ballast_question_actions"
    MERGE_PICKER = "ballast_merge_picker"
    # buttons
    ACKNOWLEDGE = "ballast_acknowledge"
    RESOLVE = "ballast_resolve"
    SNOOZE_1H = "ballast_snooze_1h"
    SNOOZE_4H = "ballast_snooze_4h"
    SNOOZE_24H = "ballast_snooze_24h"
    SHOW_RUNBOOK = "ballast_show_runbook"
    SAME_INCIDENT = "ballast_same_incident"
    NEW_INCIDENT = "ballast_new_incident"
    # the card's overflow menu ("merge:ID", "split:ID") and the merge target select ("SOURCE:TARGET")
    CARD_MENU = "ballast_card_menu"
    MERGE_PICK = "ballast_merge_pick"


SNOOZE_HOURS: dict[Ids, int] = {Ids.SNOOZE_1H: 1, Ids.SNOOZE_4H: 4, Ids.SNOOZE_24H: 24}
CARD_BUTTONS: tuple[Ids, ...] = (Ids.ACKNOWLEDGE, Ids.RESOLVE, *SNOOZE_HOURS, Ids.SHOW_RUNBOOK)
QUESTION_BUTTONS: tuple[Ids, ...] = (Ids.SAME_INCIDENT, Ids.NEW_INCIDENT)

# Overflow menu options: the value is "<verb>:<incident id>".
MENU_MERGE = "merge"
MENU_SPLIT = "split"
