"""Block Kit JSON rendered for a terminal with Rich: what a Slack client would show for a message.

Reads the payload Slack receives (`[block.to_dict() for block in blocks]`), never the builders, so
whatever `bot/blocks` posts is what the terminal shows. Supported: header, section (text, fields,
accessory), context, divider, actions, image; unknown block and element types render as a dim
placeholder instead of failing. mrkdwn is made readable: *bold*, _italic_, ~strike~, `code`,
```blocks```, > quotes, <url|label> links, <@user>/<#channel> mentions, <!date…|fallback>, the
emoji Ballast uses. Text over Block Kit's limits is cut where Slack would reject it and flagged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from bot.blocks.limits import (
    BUTTON_TEXT,
    CONTEXT_ELEMENTS,
    FIELD_TEXT,
    HEADER_TEXT,
    MAX_BLOCKS,
    MAX_FIELDS,
    SECTION_TEXT,
)

Block = Mapping[str, Any]
ACTION_ELEMENTS = 25  # Slack's limit on elements in one actions block
OVER_LIMIT_STYLE = "bold red"
EMOJI = {
    "red_circle": "🔴", "large_orange_circle": "🟠", "large_blue_circle": "🔵", "white_circle": "⚪",
    "repeat": "🔁", "thinking_face": "🤔", "link": "🔗", "white_check_mark": "✅", "warning": "⚠️",
    "rotating_light": "🚨", "fire": "🔥", "x": "❌", "heavy_check_mark": "✔️", "mag": "🔍", "book": "📖",
}
_BUTTON_STYLE = {"primary": "bold green", "danger": "bold red"}
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
# One mrkdwn token: a link-like <…>, ```code```, `code`, or a *bold* / _italic_ / ~strike~ run.
_TOKEN = re.compile(
    r"<(?P<angle>[^<>\n]+)>"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+?)~(?![\w~])",
    re.DOTALL,
)


def _emoji(text: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _angle(inner: str) -> Text:
    """`<…>`: a link, a mention, a channel, a special mention or a date, as a reader would see it."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return Text(f"@{label or target[1:]}", style="bold blue")
    if target.startswith("#"):
        return Text(f"#{label or target[1:]}", style="bold blue")
    if target.startswith("!date^"):
        return Text(html.unescape(label) if label else target, style="italic")
    if target.startswith("!subteam^"):
        return Text(label or "@group", style="bold blue")
    if target.startswith("!"):
        return Text(f"@{target[1:]}", style="bold blue")
    url = html.unescape(target)
    shown = html.unescape(label) if label else url
    return Text(shown, style=f"underline cyan link {url}")


_FENCE = re.compile(r"```(.*?)```", re.DOTALL)


def mrkdwn(text: str, base_style: str = "") -> Text:
    """Slack mrkdwn as styled Rich text (links keep their URL as a terminal hyperlink)."""
    out = Text(style=base_style)
    at = 0
    for fence in _FENCE.finditer(text):  # code blocks first: nothing inside them is markup
        _lines(out, text[at:fence.start()])
        out.append(html.unescape(fence.group(1)), style="magenta")
        at = fence.end()
    _lines(out, text[at:])
    return out


def _lines(out: Text, text: str) -> None:
    for number, line in enumerate(text.split("\n")):
        if number:
            out.append("\n")
        if line.startswith(">"):  # a quote: Slack draws a bar before it
            out.append("▌ ", style="dim")
            _inline(out, line[1:].lstrip(" "), "italic")
        else:
            _inline(out, line, "")


def _inline(out: Text, line: str, style: str) -> None:
    at = 0
    for match in _TOKEN.finditer(line):
        out.append(html.unescape(_emoji(line[at:match.start()])), style=style or None)
        kind = match.lastgroup
        value = match.group(kind or 0)
        if kind == "angle":
            link = _angle(value)
            if style:
                link.stylize(style)
            out.append_text(link)
        elif kind == "code":
            out.append(html.unescape(value), style="bold magenta")
        else:  # bold, italic or strike: the run itself may hold links and code
            _inline(out, value, f"{style} {kind}".strip())
        at = match.end()
    out.append(html.unescape(_emoji(line[at:])), style=style or None)


def _text_object(obj: Any, limit: int | None = None) -> Text:
    """A text object (plain_text or mrkdwn), cut at `limit` characters with an over-limit mark."""
    if not isinstance(obj, Mapping):
        return Text(str(obj or ""))
    raw = str(obj.get("text", ""))
    over = limit is not None and len(raw) > limit
    if over:
        raw = raw[:limit]
    rendered = mrkdwn(raw) if obj.get("type") == "mrkdwn" else Text(_emoji(raw) if obj.get("emoji", True) else raw)
    if over:
        rendered.append(f" [over {limit} characters: Slack rejects this message]", style=OVER_LIMIT_STYLE)
    return rendered


def element_label(element: Mapping[str, Any]) -> Text:
    """One interactive element as a reader sees it: [Acknowledge], [⋯] for an overflow, [choice ▾]."""
    kind = element.get("type")
    if kind == "button":
        label = _text_object(element.get("text"), BUTTON_TEXT)
        label.stylize(_BUTTON_STYLE.get(str(element.get("style")), "bold"))
        return Text.assemble("[", label, "]")
    if kind == "overflow":
        return Text("[⋯]", style="bold")
    if kind in ("static_select", "external_select", "users_select", "conversations_select", "channels_select"):
        chosen = element.get("initial_option") or {}
        placeholder = chosen.get("text") if chosen else element.get("placeholder")
        return Text.assemble("[", _text_object(placeholder or {"text": "choose"}), " ▾]")
    if kind == "datepicker":
        return Text(f"[{element.get('initial_date', 'pick a date')} 📅]")
    return Text(f"[{kind or 'element'}]", style="dim")


def _context_element(element: Any) -> Text:
    if isinstance(element, Mapping) and element.get("type") == "image":
        return Text(f"🖼 {element.get('alt_text', '')}", style="dim")
    text = _text_object(element)
    text.stylize("dim")
    return text


def _fields(fields: Sequence[Any]) -> Table:
    """Section fields: two columns, as Slack lays them out."""
    grid = Table.grid(padding=(0, 4))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    cells = [_text_object(f, FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    if len(fields) > MAX_FIELDS:
        cells.append(Text(f"[{len(fields)} fields, over {MAX_FIELDS}: Slack rejects this message]",
                          style=OVER_LIMIT_STYLE))
    for left in range(0, len(cells), 2):
        pair = cells[left:left + 2]
        grid.add_row(*pair, *([Text("")] * (2 - len(pair))))
    return grid


def render_block(block: Block) -> RenderableType:
    """One block as a Rich renderable; an unknown type is a dim placeholder, never an error."""
    kind = block.get("type")
    if kind == "header":
        header = _text_object(block.get("text"), HEADER_TEXT)
        header.stylize("bold")
        return header
    if kind == "divider":
        return Text("─" * 40, style="dim")
    if kind == "section":
        parts: list[RenderableType] = []
        if block.get("text"):
            parts.append(_text_object(block["text"], SECTION_TEXT))
        if block.get("fields"):
            parts.append(_fields(block["fields"]))
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            parts.append(element_label(accessory))
        return Group(*parts)
    if kind == "context":
        elements = list(block.get("elements") or [])
        shown = Text("  ").join(_context_element(e) for e in elements[:CONTEXT_ELEMENTS])
        if len(elements) > CONTEXT_ELEMENTS:
            shown.append(f" [{len(elements)} elements, over {CONTEXT_ELEMENTS}: Slack rejects this message]",
                         style=OVER_LIMIT_STYLE)
        return shown
    if kind == "actions":
        elements = list(block.get("elements") or [])
        row = Text(" ").join(element_label(e) for e in elements[:ACTION_ELEMENTS] if isinstance(e, Mapping))
        if len(elements) > ACTION_ELEMENTS:
            row.append(f" [{len(elements)} elements, over {ACTION_ELEMENTS}: Slack rejects this message]",
                       style=OVER_LIMIT_STYLE)
        return row
    if kind == "image":
        title = block.get("title") or {}
        return Text(f"🖼 {title.get('text') or block.get('alt_text', 'image')}", style="dim")
    return Text(f"[{kind or 'unknown'} block]", style="dim")


def render_message(blocks: Iterable[Block]) -> Group:
    """A whole message: its blocks in order (at most Slack's 50, the rest flagged)."""
    items = list(blocks)
    out: list[RenderableType] = [render_block(b) for b in items[:MAX_BLOCKS]]
    if len(items) > MAX_BLOCKS:
        out.append(Text(f"[{len(items)} blocks, over {MAX_BLOCKS}: Slack rejects this message]",
                        style=OVER_LIMIT_STYLE))
    return Group(*out)


def render_reply(blocks: Iterable[Block], indent: int = 4, heading: str = "in thread") -> Padding:
    """A thread reply: the message indented under its parent, behind a thread mark and `heading`."""
    return Padding(Group(Text(f"↳ {heading}", style="dim"), render_message(blocks)), (0, 0, 0, indent))
