"""Answering the person who asked: response_url first, chat.postEphemeral when it has expired.

Also the boundary for unexpected errors: a short reference for the user, the full trace in the log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.blocks.limits import FALLBACK_TEXT, clip
from bot.blocks.replies import text_blocks

log = logging.getLogger(__name__)


def tell(client: WebClient, respond: Callable[..., Any] | None, channel: str | None, user: str | None, text: str,
         blocks: list[Block] | None = None, *, in_channel: bool = False) -> None:
    """Send a reply through `respond`; when the response_url fails (expired, used up), post it instead."""
    blocks = blocks if blocks is not None else text_blocks(text)
    text = clip(text, FALLBACK_TEXT)
    if respond is not None:
        try:
            response = respond(text=text, blocks=blocks, response_type="in_channel" if in_channel else "ephemeral",
                               replace_original=False)
            if getattr(response, "status_code", 200) == 200:
                return
            log.info("response_url answered %s; falling back to the Web API", getattr(response, "status_code", "?"))
        except Exception:
            log.info("response_url failed; falling back to the Web API", exc_info=True)
    if channel is None:
        return
    if in_channel or user is None:
        client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    else:
        client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)


def report_failure(client: WebClient, respond: Callable[..., Any] | None, channel: str | None, user: str | None,
                   what: str) -> None:
    """Log the current exception with a reference and tell the user that reference, not the trace."""
    ref = uuid.uuid4().hex[:8]
    log.exception("slack: %s failed (ref %s)", what, ref)
    try:
        tell(client, respond, channel, user, f":warning: Sorry, {what} failed (ref `{ref}`). "
             "It has been logged; try again in a minute.")
    except (SlackApiError, OSError):
        log.exception("slack: could not report failure ref %s", ref)
