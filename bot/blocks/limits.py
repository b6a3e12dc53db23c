"""Block Kit's size limits and the one way Ballast keeps inside them: cut with an ellipsis (and a link).

Slack rejects a whole message when one field is too long, so every builder clips here instead.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
ID_LENGTH = 255
VALUE_LENGTH = 255  # a button's value and a block's id share Slack's 255-character limit
CONTEXT_ELEMENTS = 10
OPTION_TEXT = 75      # an option's text in a select or overflow menu
OPTION_VALUE = 150    # an option's value
SELECT_OPTIONS = 100  # options in one static select
FALLBACK_TEXT = 3000  # the notification text beside blocks (Slack truncates at 40,000; keep it short)

ELLIPSIS = "…"


def clip(text: str, limit: int, link: str | None = None) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis and a "more" link when given.

    Cutting never leaves half an mrkdwn link (`<url|label>`) at the end.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    suffix = ELLIPSIS
    if link is not None:
        linked = f"{ELLIPSIS} <{link}|more>"
        if len(linked) < limit // 2:
            suffix = linked
    head = text[: max(limit - len(suffix), 0)]
    opening = head.rfind("<")
    if opening > head.rfind(">"):
        head = head[:opening]  # an unclosed link or mention would render as raw markup
    return head.rstrip() + suffix


def clip_plain(text: str, limit: int) -> str:
    """Plain text (headers, buttons) cut to `limit`; plain text cannot carry a link."""
    single = " ".join(text.split())
    return clip(single, limit)


def clip_id(value: str, limit: int = ID_LENGTH) -> str:
    """Ids and values are data, not prose: cut without an ellipsis so they stay parseable prefixes."""
    return value[:limit]


def cap_blocks(blocks: list[Block], note: Block | None = None, limit: int = MAX_BLOCKS) -> list[Block]:
    """At most `limit` blocks; when some are dropped, the last kept slot holds `note` (if given)."""
    if len(blocks) <= limit:
        return blocks
    if note is None:
        return blocks[:limit]
    return [*blocks[: limit - 1], note]
