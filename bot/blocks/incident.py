"""Incident messages: the card with its buttons and menu, the thread replies, the match question, the merge picker."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.blocks.ids import MENU_MERGE, MENU_SPLIT, SNOOZE_HOURS, Ids
from bot.blocks.limits import (
    BUTTON_TEXT,
    CONTEXT_ELEMENTS,
    FIELD_TEXT,
    HEADER_TEXT,
    MAX_FIELDS,
    OPTION_TEXT,
    OPTION_VALUE,
    SECTION_TEXT,
    SELECT_OPTIONS,
    clip,
    clip_id,
    clip_plain,
)
from bot.blocks.views import IncidentChoice, IncidentView, SimilarIncident, slack_date

SIMILAR_SHOWN = 5
_SEVERITY_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_STATUS_TEXT = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def _button(text: str, action: Ids, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=clip_plain(text, BUTTON_TEXT), action_id=action.value, value=clip_id(value), style=style)


def _status(view: IncidentView) -> str:
    if view.merged_into is not None:
        return f"Merged into INC-{view.merged_into}"
    text = _STATUS_TEXT.get(view.status, view.status.title())
    if view.status == "acknowledged" and view.acknowledged_by:
        text += f" by <@{view.acknowledged_by}>"
    if view.snoozed_until is not None and not view.closed:
        text += f" · snoozed until {slack_date(view.snoozed_until)}"
    return text


def _similar_line(item: SimilarIncident) -> str:
    name = f"<{item.link}|INC-{item.id}>" if item.link else f"INC-{item.id}"
    return f"• {name} {item.title} ({item.status}, {item.similarity:.0%} similar)"


def card_text(view: IncidentView) -> str:
    """The notification fallback: what a phone or a screen reader shows."""
    return clip(f"{view.ref} [{view.severity}] {view.title} ({_status(view)})", SECTION_TEXT)


def incident_card(view: IncidentView) -> list[Block]:
    """The incident card: header, facts, runbook, similar incidents, and buttons while it is live."""
    icon = _SEVERITY_ICON.get(view.severity, ":white_circle:")
    blocks: list[Block] = [
        HeaderBlock(block_id=Ids.CARD_HEADER.value, text=clip_plain(f"{view.ref} · {view.title}", HEADER_TEXT)),
    ]
    facts = [
        f"*Severity*\n{icon} {view.severity}",
        f"*Service*\n{view.service or '—'}",
        f"*Status*\n{_status(view)}",
        f"*Occurrences*\n{view.occurrence_count}",
        f"*First seen*\n{slack_date(view.first_seen)}",
        f"*Last seen*\n{slack_date(view.last_seen)}",
    ]
    fields = [MarkdownTextObject(text=clip(f, FIELD_TEXT)) for f in facts[:MAX_FIELDS]]
    blocks.append(SectionBlock(block_id=Ids.CARD_FIELDS.value, fields=fields, accessory=card_menu(view)))
    runbook = "*Runbook:* none matched yet"
    if view.runbook:
        runbook = f"*Runbook:* `{view.runbook}`" + (f" {view.runbook_title}" if view.runbook_title else "")
    blocks.append(SectionBlock(block_id=Ids.CARD_RUNBOOK.value, text=MarkdownTextObject(text=clip(runbook, SECTION_TEXT))))
    if view.similar:
        shown = [_similar_line(s) for s in view.similar[:SIMILAR_SHOWN]]
        more = len(view.similar) - len(shown)
        text = "*Similar past incidents*\n" + "\n".join(shown) + (f"\n…and {more} more" if more > 0 else "")
        blocks.append(SectionBlock(block_id=Ids.CARD_SIMILAR.value,
                                   text=MarkdownTextObject(text=clip(text, SECTION_TEXT, view.link))))
    notes = []
    if view.regression_of is not None:
        notes.append(f":repeat: Regression of INC-{view.regression_of}")
    if notes:
        elements = [MarkdownTextObject(text=clip(n, SECTION_TEXT)) for n in notes[:CONTEXT_ELEMENTS]]
        blocks.append(ContextBlock(block_id=Ids.CARD_CONTEXT.value, elements=elements))
    blocks.append(ActionsBlock(block_id=Ids.CARD_ACTIONS.value, elements=card_buttons(view)))
    return blocks


def card_buttons(view: IncidentView) -> list[ButtonElement]:
    value = str(view.id)
    buttons: list[ButtonElement] = []
    if not view.closed:
        if view.status != "acknowledged":
            buttons.append(_button("Acknowledge", Ids.ACKNOWLEDGE, value, "primary"))
        buttons.append(_button("Resolve", Ids.RESOLVE, value, "danger"))
        buttons.extend(_button(f"Snooze {h}h", action, value) for action, h in SNOOZE_HOURS.items())
    buttons.append(_button("Show runbook", Ids.SHOW_RUNBOOK, value))
    return buttons


def card_menu(view: IncidentView) -> OverflowMenuElement | None:
    """The card's overflow menu while the incident is live: merge it into another, split its last report out."""
    if view.closed:
        return None
    options = [_option("Merge into another incident…", f"{MENU_MERGE}:{view.id}")]
    if view.occurrence_count > 1:
        options.append(_option("Split the last report out", f"{MENU_SPLIT}:{view.id}"))
    return OverflowMenuElement(action_id=Ids.CARD_MENU.value, options=options)


def _option(text: str, value: str) -> Option:
    return Option(text=PlainTextObject(text=clip_plain(text, OPTION_TEXT)), value=clip_id(value, OPTION_VALUE))


def merge_picker(view: IncidentView, choices: Sequence[IncidentChoice]) -> list[Block]:
    """Ephemeral: "Merge INC-5 (title) into which incident?" with a select of the tenant's live incidents."""
    offered = [c for c in choices if c.id != view.id][:SELECT_OPTIONS]
    title = clip_plain(view.title, 200)
    if not offered:
        return _reply(f"There is no other open incident to merge {view.ref} ({title}) into.")
    select = StaticSelectElement(
        action_id=Ids.MERGE_PICK.value, placeholder=PlainTextObject(text="Choose an incident"),
        options=[_option(f"INC-{c.id} {c.title}", f"{view.id}:{c.id}") for c in offered],
    )
    more = len([c for c in choices if c.id != view.id]) - len(offered)
    note = f" (the {len(offered)} most recent; or `ballast incidents merge {view.id} ID`)" if more > 0 else ""
    text = f":twisted_rightwards_arrows: Merge {view.ref} ({title}) into which incident?{note}"
    return [SectionBlock(block_id=Ids.MERGE_PICKER.value, text=MarkdownTextObject(text=clip(text, SECTION_TEXT)),
                         accessory=select)]


def merged_note(source: int, target: int, user: str | None) -> list[Block]:
    who = f"<@{user}>" if user else "Someone"
    return _reply(f":link: {who} merged INC-{source} into INC-{target}.")


def split_note(original: int, new: IncidentView, user: str | None) -> list[Block]:
    """In the original card's thread: which report left, and where it went."""
    who = f"<@{user}>" if user else "Someone"
    name = f"<{new.link}|{new.ref}>" if new.link else new.ref
    return _reply(f":scissors: {who} split the last report out of INC-{original} into {name} "
                  f"({clip_plain(new.title, 200)}).")


def _reply(text: str, link: str | None = None) -> list[Block]:
    return [SectionBlock(block_id=Ids.REPLY.value, text=MarkdownTextObject(text=clip(text, SECTION_TEXT, link)))]


def duplicate_reply(view: IncidentView, report: str, similarity: float | None, link: str | None = None) -> list[Block]:
    """A repeat report in the card's thread: which occurrence it is and what it said."""
    how = "same fingerprint" if similarity is None or similarity >= 0.999 else f"{similarity:.0%} similar"
    quoted = "\n".join(f"> {line}" for line in report.strip().splitlines()[:20]) or "> (no text)"
    return _reply(f"Occurrence #{view.occurrence_count} ({how}):\n{quoted}", link)


def regression_note(view: IncidentView, previous_link: str | None = None) -> list[Block]:
    """In a regression's thread: the resolved incident it repeats, linked when its card is known."""
    old = f"INC-{view.regression_of}"
    if previous_link:
        old = f"<{previous_link}|{old}>"
    return _reply(f":repeat: This looks like {old} again, which was resolved; severity raised to *{view.severity}*.")


def match_question(view: IncidentView, candidate: IncidentView) -> list[Block]:
    """"Looks like INC-42 (title): same incident?" with [Same incident] and [New incident]."""
    title = clip_plain(candidate.title, 200)
    name = f"<{candidate.link}|{candidate.ref}>" if candidate.link else candidate.ref
    text = f":thinking_face: Looks like {name} ({title}): same incident?"
    value = f"{view.id}:{candidate.id}"
    return [
        SectionBlock(block_id=Ids.QUESTION.value, text=MarkdownTextObject(text=clip(text, SECTION_TEXT))),
        ActionsBlock(block_id=Ids.QUESTION_ACTIONS.value, elements=[
            _button("Same incident", Ids.SAME_INCIDENT, value, "primary"),
            _button("New incident", Ids.NEW_INCIDENT, value),
        ]),
    ]


def match_answer(view: IncidentView, candidate_id: int, same: bool, user: str | None) -> list[Block]:
    """What replaces the question once someone answers it (the buttons go away)."""
    who = f"<@{user}>" if user else "Someone"
    if same:
        return _reply(f":link: {who} merged {view.ref} into INC-{candidate_id}.")
    return _reply(f":white_check_mark: {who} confirmed {view.ref} is a new incident, not INC-{candidate_id}.")
