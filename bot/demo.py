"""`ballast demo`: a realistic morning of alerts and chat reports, folded into incidents, shown as a channel sees them.

It runs on whatever data dir it is given (a fresh one shows the whole story), indexes the
configured runbook folders (by default the bundled ones), ingests `demo_data/stream.jsonl` through the
same intake as every other entry point, and prints #incidents as Slack would show it: each card
built by the Slack app's own view functions (`bot.slack.cards`, `bot/blocks`), its thread of
repeats, regressions and "same incident?" questions, and one cited answer, rendered from the
Block Kit JSON by `bot.terminal_cards`. Nothing is sent to Slack and nothing is recorded as posted.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block
from sqlmodel import Session

from bot import incidents as repo
from bot.app import Services
from bot.blocks.incident import duplicate_reply, incident_card, match_question, regression_note
from bot.blocks.replies import answer_blocks
from bot.intake import IngestResult
from bot.render import incident_table
from bot.slack.app import SlackConfig, SlackDeps
from bot.slack.cards import incident_view, load_incident, similar_past
from bot.slack.messages import compose_answer
from bot.slack.posting import Poster
from bot.terminal_cards import render_message, render_reply
from retrieval.signal import Signal, signal_from_mapping

STREAM = Path(__file__).parent / "demo_data" / "stream.jsonl"
CHANNEL = "#incidents"
QUESTION = "how do I free up database connections when max_connections is exhausted?"
ASKER = "ana"
REPLAYED_NOTE = ("This data dir already held the demo's signals: they were replayed, not counted again, and the "
                 "cards show today's state. For the whole story from the start, run `ballast --data-dir NEW_DIR demo`.")

Payload = list[dict[str, Any]]


def load_stream(path: Path = STREAM) -> list[Signal]:
    with path.open(encoding="utf-8") as handle:
        return [signal_from_mapping(json.loads(line), max_text_chars=16_000) for line in handle if line.strip()]


def _payload(blocks: list[Block]) -> Payload:
    """What `chat.postMessage` would carry: the same serialisation slack_sdk sends."""
    return [b.to_dict() for b in blocks]


@dataclass
class Thread:
    """One card in the channel: the blocks as posted, then its replies in order, and its last state."""

    incident_id: int
    posted_at: datetime | None
    card: Payload
    replies: list[tuple[str, Payload]] = field(default_factory=list)  # (heading, blocks)
    updates: int = 0
    occurrences: int = 1  # as counted by this run (a replayed run cannot read them from the database)
    final_status: str = ""
    final_count: int = 1


@dataclass
class Channel:
    """What #incidents would hold after the stream: cards in posting order, each with its thread."""

    threads: dict[int, Thread] = field(default_factory=dict)

    def publish(self, deps: SlackDeps, signal: Signal, result: IngestResult) -> None:
        """What `bot.slack.cards.publish` posts for one intake result, built by the same functions."""
        if result.incident_id is None:
            return
        incident = load_incident(deps, result.incident_id)
        if incident is None or incident.id is None:
            return
        thread = self.threads.get(incident.id)
        if thread is None:
            similar = similar_past(deps, signal, incident.id)
            view = incident_view(deps, incident, similar)
            if result.replayed:  # the database holds today's count; the card was posted with the first one
                view = replace(view, occurrence_count=1)
            thread = self.threads[incident.id] = Thread(incident.id, signal.time, _payload(incident_card(view)))
        view = incident_view(deps, incident)
        heading = f"Ballast {_stamp(signal.time)}"
        if result.decision == "duplicate":
            thread.occurrences += 1
            shown = replace(view, occurrence_count=thread.occurrences) if result.replayed else view
            blocks = duplicate_reply(shown, signal.text, result.similarity, view.link)
            thread.replies.append((f"{heading} · a repeat from {signal.source or 'a report'}", _payload(blocks)))
            thread.updates += 1  # and chat.update of the card: new count, new status
        if result.decision == "regression" and incident.regression_of is not None:
            thread.replies.append((heading, _payload(regression_note(view))))
        if result.candidate is not None:
            candidate = load_incident(deps, result.candidate)
            if candidate is not None:
                thread.replies.append((heading, _payload(match_question(view, incident_view(deps, candidate)))))
        thread.final_status, thread.final_count = view.status, view.occurrence_count


def demo_deps(svc: Services) -> SlackDeps:
    """The Slack app's dependencies over the demo's services; the client is never called (nothing is posted)."""
    return SlackDeps(svc, Poster(svc.engine, WebClient(token=None)), SlackConfig())


def _stamp(value: datetime | None) -> str:
    return value.strftime("%H:%M") if value is not None else ""


def print_channel(console: Console, channel: Channel) -> None:
    console.print(Rule(f"{CHANNEL}", style="bold"))
    for thread in channel.threads.values():
        console.print(Text.assemble(("Ballast", "bold"), (" APP ", "reverse dim"), (f" {_stamp(thread.posted_at)}", "dim")))
        console.print(Panel(render_message(thread.card), border_style="dim", expand=False))
        for heading, reply in thread.replies:
            console.print(render_reply(reply, heading=heading))
        if thread.updates:
            console.print(Padding(Text(f"↻ card updated in place {thread.updates}×: now {thread.final_status}, "
                                       f"{thread.final_count} occurrences", style="dim green"), (0, 0, 0, 4)))
        console.print()


def print_answer(console: Console, deps: SlackDeps, question: str) -> None:
    """A question to @Ballast and the answer the app posts in its thread (`ballast ask`'s function)."""
    text, citations, runbook = compose_answer(deps, question)
    console.print(Text.assemble((ASKER, "bold"), (f"  @Ballast {question}", "")))
    console.print(render_reply(_payload(answer_blocks(text, citations, runbook)), heading="Ballast"))
    console.print()


def run_demo(svc: Services, *, as_json: bool = False, console: Console | None = None) -> list[IngestResult]:
    console = console or Console()
    started = time.monotonic()
    signals = load_stream()
    if not as_json:
        console.print(Panel.fit(f"Ballast demo: {len(signals)} alerts, logs and chat reports from one morning\n"
                                f"data dir: {svc.settings.home}", style="bold"))
    for folder, report in svc.index_configured_runbooks(lambda line: print(f"runbooks: {line}", file=sys.stderr)):
        if not as_json:
            console.print(f"[dim]runbooks: {report.indexed} from {folder} ({report.chunks} sections)[/dim]")
    deps = demo_deps(svc)
    channel = Channel()
    results: list[IngestResult] = []
    for signal in signals:  # one at a time, as they would arrive
        result = svc.intake.process([signal], [signal.external_id])[0]
        results.append(result)
        if as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            channel.publish(deps, signal, result)
    if as_json:
        return results
    print_channel(console, channel)
    if any(r.replayed for r in results):
        console.print(REPLAYED_NOTE, style="yellow")
        console.print()
    print_answer(console, deps, QUESTION)
    with Session(svc.engine) as session:
        rows = [repo.incident_json(i) for i in repo.list_incidents(session)]
    incident_table(rows, title="Incidents after the stream", out=console)
    counts = {k: sum(r.decision == k for r in results) for k in ("new", "duplicate", "regression")}
    console.print(f"{len(results)} signals -> {counts['new'] + counts['regression']} incidents "
                  f"({counts['duplicate']} folded as duplicates, {counts['regression']} regressions) "
                  f"in {time.monotonic() - started:.1f}s")
    return results
