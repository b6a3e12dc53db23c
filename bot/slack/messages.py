"""Chat intake and questions: top-level messages in intake channels become signals (committed to the
inbox, so an acknowledged report survives a crash); mentions and DMs are answered in their thread, with
citations, through the answers function when it exists.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import inbox
from bot.blocks.replies import Citation, answer_blocks
from bot.slack.app import SlackDeps
from bot.slack.replying import report_failure
from retrieval.signal import Signal

log = logging.getLogger(__name__)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
NO_ANSWERS = ("I answer questions from your runbooks and past incidents, but no runbooks are indexed yet. "
              "Run `ballast runbooks index DIR`, then ask me again.")
ANSWER_MODULES = ("bot.answers", "retrieval.answer")


def _answer_function() -> Callable[..., Any] | None:
    """`answer_question(services, question)` from whichever module provides it, or None."""
    for name in ANSWER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found = getattr(module, "answer_question", None)
        if callable(found):
            return found
    return None


def compose_answer(deps: SlackDeps, question: str, tenant: str = "default") -> tuple[str, list[Citation], str | None]:
    """The answer text, its citations and the matched runbook; a pointer to indexing when no answers exist."""
    answer = _answer_function()
    if answer is None:
        return NO_ANSWERS, [], None
    result = answer(deps.services, question, tenant=tenant)
    citations: list[Citation] = []
    for cite in getattr(result, "citations", []) or []:
        runbook, section = getattr(cite, "runbook", None), getattr(cite, "section", None)
        label = " § ".join(str(p) for p in (runbook, section) if p) or str(cite)
        citations.append(Citation(label, getattr(cite, "url", None)))
    runbook = getattr(result, "runbook", None) or next(
        (getattr(c, "runbook", None) for c in getattr(result, "citations", []) or []), None)
    return str(getattr(result, "answer", result)), citations, runbook


def answer_in_thread(deps: SlackDeps, client: WebClient, event: dict[str, Any], team_id: str | None) -> None:
    channel, ts = event.get("channel"), event.get("ts")
    if not channel or not ts:
        return
    key = f"answer:{channel}:{ts}"
    if deps.poster.claimed(key):
        return  # a retried delivery of a question already answered
    question = _MENTION.sub("", event.get("text") or "").strip()
    thread = event.get("thread_ts") or ts
    try:
        if not question:
            text, cites, runbook = "Ask me about an incident or a failure, e.g. _how do I fail over the orders database?_", [], None
        else:
            text, cites, runbook = compose_answer(deps, question, deps.config.tenant(team_id))
        deps.poster.post_once(key, channel, text, answer_blocks(text, cites, runbook), kind="answer", thread_ts=thread)
    except Exception:
        report_failure(client, None, channel, None, "answering that question")


def file_report(deps: SlackDeps, signal: Signal, reply: dict[str, Any]) -> int:
    """Commit a report filed in Slack to the inbox, with where to answer it; its row id.

    Once this returns the report survives a crash: the workers decide it, and the outbox job
    (bot/slack/notices.py) posts its card or thread reply in the channel it came from.
    """
    [row] = inbox.enqueue(deps.services.engine, [signal], ["slack"], [reply])
    return row


def file_message(deps: SlackDeps, event: dict[str, Any], team_id: str | None) -> None:
    channel, ts, text = event.get("channel"), event.get("ts"), (event.get("text") or "").strip()
    if not channel or not ts or not text:
        return
    limit = deps.services.settings.max_text_chars
    signal = Signal(text=text[:limit], tenant=deps.config.tenant(team_id), source="slack",
                    external_id=f"message:{channel}:{ts}", truncated=len(text) > limit,
                    extra={"slack_user": event.get("user"), "slack_channel": channel})
    file_report(deps, signal, {"origin": "message", "channel": channel, "user": event.get("user"),
                               "event_key": f"{channel}:{ts}"})


def register(app: App, deps: SlackDeps) -> None:
    # Events are acked by Bolt before these run (process_before_response=False), so they may be slow.
    @app.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        answer_in_thread(deps, client, event, body.get("team_id"))

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, bot posts (our own included) are not reports
        if event.get("channel_type") == "im":
            answer_in_thread(deps, client, event, body.get("team_id"))
            return
        if event.get("thread_ts") or event.get("channel") not in deps.config.intake_channels:
            return
        if context.bot_user_id and f"<@{context.bot_user_id}>" in (event.get("text") or ""):
            return  # a question to Ballast: the app_mention listener answers it
        try:
            file_message(deps, event, body.get("team_id"))
        except Exception:
            report_failure(client, None, event.get("channel"), event.get("user"), "filing that report")
