"""Showing stored decisions of alerts in Slack: cards in the routed channel, repeats in the card's thread.

The outbox job claims due notices (bot/slack/outbox.py), shows each incident's notices together
and marks them done; a failed post (Slack down, rate limits past the client's patience) gives them
back to be retried after a backoff, so intake is never blocked and nothing is lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.intake import IngestResult
from bot.routing import route
from bot.slack import outbox
from bot.slack.app import SlackDeps
from bot.slack.cards import ask_same, ensure_card, load_incident, publish, publish_repeats, refresh_card
from bot.slack.outbox import Notice
from bot.slack.replying import tell

log = logging.getLogger(__name__)
BATCH = 100
PARALLEL = 16  # incidents shown at once: a 429 storm on one post does not hold up the others
LEASE_SECONDS = 120.0


CANNOT_POST = ("not_in_channel", "channel_not_found", "is_archived")


class CardPending(RuntimeError):
    """Another worker is posting this incident's card right now: show the notice on a later run."""


def deliver_due(deps: SlackDeps, worker: str, *, limit: int = BATCH, now: datetime | None = None,
                parallel: int = PARALLEL) -> int:
    """Claim notices due at `now` and show them, up to `parallel` incidents at a time (each waits out
    its own rate limits); the number claimed (0: nothing due)."""
    claimed = outbox.claim(deps.services.engine, worker, limit, LEASE_SECONDS, now)
    by_incident: dict[int, list[Notice]] = defaultdict(list)
    for notice in claimed:
        by_incident[notice.incident_id].append(notice)
    groups = list(by_incident.items())
    if len(groups) <= 1 or parallel <= 1:
        for incident_id, notices in groups:
            _deliver(deps, worker, incident_id, notices, now)
    else:
        with ThreadPoolExecutor(min(parallel, len(groups)), thread_name_prefix="slack-outbox") as pool:
            list(pool.map(lambda group: _deliver(deps, worker, group[0], group[1], now), groups))
    return len(claimed)


def _deliver(deps: SlackDeps, worker: str, incident_id: int, notices: list[Notice], now: datetime | None) -> None:
    engine = deps.services.engine
    try:
        skipped = show(deps, incident_id, notices)
    except Exception as exc:
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("INC-%d: posting to Slack failed (%s); retried later", incident_id, reason)
        outbox.retry(engine, worker, notices, f"{type(exc).__name__}: {reason}", now)
        return
    ids = [n.id for n in notices]
    if skipped:
        outbox.finish(engine, worker, ids, outbox.SKIPPED, skipped)
    else:
        outbox.finish(engine, worker, ids)


def show(deps: SlackDeps, incident_id: int, notices: list[Notice]) -> str | None:
    """Post what `notices` (all of one incident, oldest first) call for; why nothing was posted, or None."""
    incident = load_incident(deps, incident_id)
    if incident is None:
        return "the incident no longer exists"
    card = deps.poster.card(incident_id)
    reports = [n for n in notices if n.kind == outbox.REPORT and n.reply and n.reply.get("channel")]
    if card is not None:
        channel: str | None = card.channel
    elif reports:
        channel = str(reports[0].reply["channel"])  # type: ignore[index]  # filed in Slack: answered there
    else:
        channel = route(deps.config.file.routes, incident.service, incident.severity, incident.tenant)
    if channel is None:
        log.info("INC-%d (%s, %s): no route matches and routes.default is unset; no card posted",
                 incident_id, incident.service, incident.severity)
        return "no route matches and routes.default is unset"
    for notice in reports:
        try:
            answer_report(deps, incident_id, notice, channel)
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
            tell_reporter(deps, notice, "I can't post in this channel. Invite me with `/invite @Ballast` "
                                        "(your report was stored).")
            return f"cannot post in {channel}: {exc.response.get('error')}"
    opening = [n for n in notices if n.kind in (outbox.NEW, outbox.REGRESSION)]
    if not opening and len(reports) == len(notices):
        return None
    first = opening[0] if opening else notices[0]
    if card is None:
        card, _ = ensure_card(deps, incident, channel, first.signal, wait=0.0)
        if card is None or card.ts is None:
            raise CardPending(f"INC-{incident_id}: its card is being posted by another worker")
    for notice in opening:
        result = IngestResult(None, notice.payload.get("decision") or notice.kind, incident_id,
                              notice.payload.get("similarity"), candidate=notice.payload.get("candidate"))
        if notice.kind == outbox.REGRESSION:
            publish(deps, notice.signal, result, channel, event_key=notice.key, wait=0.0)
        elif result.candidate is not None and card.ts is not None:
            ask_same(deps, incident, int(result.candidate), card.channel, card.ts)
    repeats = [n for n in notices if n.kind == outbox.DUPLICATE]
    if repeats:
        similarity = repeats[-1].payload.get("similarity")
        publish_repeats(deps, incident, card, [n.signal.text for n in repeats], similarity, repeats[0].key[:16])
    if any(n.kind == outbox.RESOLVE for n in notices):
        refresh_card(deps, incident_id)
    return None


def answer_report(deps: SlackDeps, incident_id: int, notice: Notice, channel: str) -> None:
    """A report filed from Slack, shown as it always was: a card where it was filed, or a reply in the
    card's thread (keyed by its event, so a retried delivery never posts twice); `/incident` repeats also
    tell the reporter where their report went."""
    reply = notice.reply or {}
    decision = str(notice.payload.get("decision") or "new")
    result = IngestResult(None, decision, incident_id, notice.payload.get("similarity"),
                          candidate=notice.payload.get("candidate"))
    published = publish(deps, notice.signal, result, channel, event_key=str(reply.get("event_key") or notice.key),
                        wait=0.0)
    if published is None:
        raise CardPending(f"INC-{incident_id}: its card is being posted by another worker")
    if reply.get("origin") == "command" and decision == "duplicate":
        tell_reporter(deps, notice, f"Added to INC-{published.incident_id} (see its thread).")


def tell_reporter(deps: SlackDeps, notice: Notice, text: str) -> None:
    """A private word to whoever filed the report: through its response_url, else chat.postEphemeral."""
    reply = notice.reply or {}
    url = reply.get("response_url")
    respond = WebhookClient(str(url)).send if url else None
    try:
        tell(deps.poster.client, respond, reply.get("channel"), reply.get("user"), text)
    except (SlackApiError, OSError):
        log.info("could not tell the reporter of %s: %s", notice.key, text)
