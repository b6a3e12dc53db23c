"""The escalation post: the group mentioned, the incident and how long it has waited, its card linked, its buttons."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.models.blocks import ActionsBlock, Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.blocks.incident import card_buttons
from bot.blocks.limits import SECTION_TEXT, clip
from bot.blocks.views import IncidentView, slack_date


def waited(age: timedelta) -> str:
    """A short reading of a duration: 45s, 15 min, 2 h 5 min, 3 d 4 h."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs}s"


def escalation_text(view: IncidentView, mention: str | None, number: int, total: int, age: timedelta) -> str:
    """The notification text (also the section's text): who is paged, which incident, which escalation."""
    who = f"{mention} " if mention else ""
    ref = f"<{view.link}|{view.ref}>" if view.link else view.ref
    service = f" on *{view.service}*" if view.service else ""
    return (f"{who}:rotating_light: {ref} ({view.severity}){service} is not acknowledged after {waited(age)}: "
            f"{view.title} (escalation {number} of {total})")


def escalation_blocks(view: IncidentView, mention: str | None, number: int, total: int, age: timedelta) -> list[Block]:
    text = escalation_text(view, mention, number, total, age)
    context = f"First seen {slack_date(view.first_seen)} · {view.occurrence_count} occurrence(s)"
    if view.link:
        context += f" · <{view.link}|open the card>"
    return [
        SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT, view.link))),
        ContextBlock(elements=[MarkdownTextObject(text=clip(context, SECTION_TEXT))]),
        ActionsBlock(elements=card_buttons(view)),
    ]
