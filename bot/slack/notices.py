"""Showing stored decisions of alerts in Slack: cards in the routed channel, repeats in the card's thread.

The outbox job claims due notices (bot/slack/outbox.py), shows each incident's notices together
and marks them done; a failed post (Slack down, rate limits past the client's patience) gives them
back to be retried after a backoff, so intake is never blocked and nothing is lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.intake import IngestResult
from bot.routing import route
from bot.slack import outbox
from bot.slack.app import SlackDeps
from bot.slack.cards import ask_same, ensure_card, load_incident, publish, publish_repeats, refresh_card
from bot.slack.outbox import Notice

log = logging.getLogger(__name__)
BATCH = 100
LEASE_SECONDS = 120.0


class CardPending(RuntimeError):
    """Another worker is posting this incident's card right now: show the notice on a later run."""


def deliver_due(deps: SlackDeps, worker: str, *, limit: int = BATCH, now: datetime | None = None) -> int:
    """Claim notices due at `now` and show them; the number claimed (0: nothing due)."""
    claimed = outbox.claim(deps.services.engine, worker, limit, LEASE_SECONDS, now)
    by_incident: dict[int, list[Notice]] = defaultdict(list)
    for notice in claimed:
        by_incident[notice.incident_id].append(notice)
    for incident_id, notices in by_incident.items():
        ids = [n.id for n in notices]
        try:
            skipped = show(deps, incident_id, notices)
        except Exception as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("INC-%d: posting to Slack failed (%s); retried later", incident_id, reason)
            outbox.retry(deps.services.engine, worker, notices, f"{type(exc).__name__}: {reason}", now)
            continue
        if skipped:
            outbox.finish(deps.services.engine, worker, ids, outbox.SKIPPED, skipped)
        else:
            outbox.finish(deps.services.engine, worker, ids)
    return len(claimed)


def show(deps: SlackDeps, incident_id: int, notices: list[Notice]) -> str | None:
    """Post what `notices` (all of one incident, oldest first) call for; why nothing was posted, or None."""
    incident = load_incident(deps, incident_id)
    if incident is None:
        return "the incident no longer exists"
    card = deps.poster.card(incident_id)
    channel = card.channel if card is not None else route(deps.config.file.routes, incident.service,
                                                          incident.severity, incident.tenant)
    if channel is None:
        log.info("INC-%d (%s, %s): no route matches and routes.default is unset; no card posted",
                 incident_id, incident.service, incident.severity)
        return "no route matches and routes.default is unset"
    opening = [n for n in notices if n.kind in (outbox.NEW, outbox.REGRESSION)]
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
