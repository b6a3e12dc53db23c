"""Slash commands: /incident, /runbook, /budget, /scorecard, /risk and /ballast, acked within Slack's 3 s.

Each ack answers at once (usage help for empty text); reports are committed to the inbox and search
runs in lazy listeners.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.blocks.replies import RunbookHit, help_blocks, runbook_results, text_blocks
from bot.slack.app import SlackDeps
from bot.slack.messages import file_report
from bot.slack.replying import report_failure, tell
from retrieval.signal import Signal

COMMANDS = ("/incident", "/runbook", "/budget", "/scorecard", "/risk", "/ballast")  # slack-manifest.yaml lists the same
NOT_CONFIGURED = ("SLO scoring is not configured yet: `{command}` arrives with SLOs in `ballast.yaml`. "
                  "Until then, `/incident` and `/runbook` work; see `/ballast help`.")
NO_RUNBOOKS = "No runbooks are indexed yet: run `ballast runbooks index DIR`, then try `/runbook` again."


def _ephemeral(ack: Ack, text: str, note_help: bool = False) -> None:
    ack(text=text, blocks=help_blocks(text) if note_help else text_blocks(text), response_type="ephemeral")


def incident_ack(ack: Ack, command: dict[str, Any]) -> None:
    text = (command.get("text") or "").strip()
    if not text:
        _ephemeral(ack, "Usage: `/incident WHAT IS BROKEN`, e.g. `/incident checkout returns 502 for EU users`.", True)
        return
    ack(text=f":inbox_tray: Filing: _{text[:200]}_", response_type="ephemeral")


def make_incident_worker(deps: SlackDeps) -> Callable[..., None]:
    def file_incident(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        """Commit the report to the inbox with where to answer it; the workers decide it and the
        outbox job posts its card (or its thread reply), even if this process dies right now."""
        text = (command.get("text") or "").strip()
        if not text:
            return
        channel, user = command.get("channel_id"), command.get("user_id")
        trigger = command.get("trigger_id") or command.get("api_app_id")
        try:
            signal = Signal(
                text=text[: deps.services.settings.max_text_chars], tenant=deps.config.tenant(command.get("team_id")),
                source="slack", external_id=f"command:{trigger}",
                truncated=len(text) > deps.services.settings.max_text_chars,
                extra={"slack_user": user, "slack_channel": channel},
            )
            reply = {"origin": "command", "channel": channel, "user": user, "event_key": str(trigger),
                     "response_url": command.get("response_url")}
            file_report(deps, signal, reply)
        except Exception:
            report_failure(client, respond, channel, user, "filing the incident")

    return file_incident


def make_runbook_worker(deps: SlackDeps) -> Callable[..., None]:
    def search_runbooks(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        query = (command.get("text") or "").strip()
        if not query:
            return
        channel, user = command.get("channel_id"), command.get("user_id")
        try:
            library = deps.services.runbook_library
            if library is None:
                tell(client, respond, channel, user, NO_RUNBOOKS)
                return
            hits = [RunbookHit(m.runbook, m.title, m.score) for m in library.search(query, top=5)]
            tell(client, respond, channel, user, f"Runbooks for {query}", runbook_results(query, hits))
        except Exception:
            report_failure(client, respond, channel, user, "the runbook search")

    return search_runbooks


def runbook_ack(ack: Ack, command: dict[str, Any]) -> None:
    if not (command.get("text") or "").strip():
        _ephemeral(ack, "Usage: `/runbook SYMPTOM`, e.g. `/runbook orders database failover`.", True)
        return
    ack()


def scoring_ack(ack: Ack, command: dict[str, Any]) -> None:
    _ephemeral(ack, NOT_CONFIGURED.format(command=command.get("command", "this command")))


def ballast_ack(ack: Ack, command: dict[str, Any]) -> None:
    words = (command.get("text") or "").split()
    if not words or words[0].lower() in ("help", "?", "-h", "--help"):
        ack(text="Ballast help", blocks=help_blocks(), response_type="ephemeral")
        return
    _ephemeral(ack, f"I don't know `/ballast {words[0][:50]}`.", True)


def unknown_ack(ack: Ack, command: dict[str, Any]) -> None:
    _ephemeral(ack, f"Ballast has no `{str(command.get('command'))[:50]}` command.", True)


def register(app: App, deps: SlackDeps) -> None:
    app.command("/incident")(ack=incident_ack, lazy=[make_incident_worker(deps)])
    app.command("/runbook")(ack=runbook_ack, lazy=[make_runbook_worker(deps)])
    for name in ("/budget", "/scorecard", "/risk"):
        app.command(name)(scoring_ack)
    app.command("/ballast")(ballast_ack)
    app.command(re.compile(r"^/"))(unknown_ack)  # registered last: any other command gets help, not an error
