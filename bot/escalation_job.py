"""The escalation job: arm timers for new incidents, claim the due ones, and post or stop each (a thin edge).

What to do with a timer is bot/escalation.py's `step`; the timers are bot/escalation_store.py's
rows; posting goes through the idempotent poster under `escalation:<incident>:<n>`, so even a
lease taken over mid-post never posts an escalation twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import escalation_store as store
from bot.blocks.escalation import escalation_blocks, escalation_text
from bot.escalation import Fire, IncidentState, Postpone, Stop, step
from bot.incidents import as_utc, utcnow
from bot.routing import route
from bot.slack.app import SlackDeps
from bot.slack.cards import incident_view, load_incident

log = logging.getLogger(__name__)
BATCH = 50
LEASE_SECONDS = 120.0


def run_escalations(deps: SlackDeps, worker: str, now: datetime | None = None) -> int:
    """One pass: arm new timers, then act on every due one; the number of escalations posted."""
    now = now or utcnow()
    engine, config = deps.services.engine, deps.config.file
    store.arm(engine, config, now)
    posted = 0
    for timer in store.claim_due(engine, worker, BATCH, LEASE_SECONDS, now):
        try:
            posted += _one(deps, worker, timer, now)
        except Exception as exc:
            log.warning("INC-%d: escalation post failed (%s); retried later", timer.incident_id, type(exc).__name__)
            store.retry(engine, worker, timer, f"{type(exc).__name__}: {exc}", now)
    return posted


def _one(deps: SlackDeps, worker: str, timer: store.Timer, now: datetime) -> int:
    engine, config = deps.services.engine, deps.config.file
    incident = load_incident(deps, timer.incident_id)
    if incident is None or incident.id is None:
        store.stop(engine, worker, timer, "the incident no longer exists", now)
        return 0
    card = deps.poster.card(incident.id)
    snoozed = as_utc(card.snoozed_until) if card is not None and card.snoozed_until is not None else None
    policy = config.policy(incident.severity)
    decision = step(IncidentState(incident.status, incident.merged_into is not None, snoozed), policy,
                    timer.fired, timer.due_at, now)
    if isinstance(decision, Stop):
        store.stop(engine, worker, timer, decision.reason, now)
        return 0
    if isinstance(decision, Postpone):
        store.postpone(engine, worker, timer, decision.until, now)
        return 0
    if not isinstance(decision, Fire) or policy is None:
        store.postpone(engine, worker, timer, timer.due_at, now)  # not due: give the claim back as it was
        return 0
    channel = policy.channel or (card.channel if card is not None else None) or route(
        config.routes, incident.service, incident.severity, incident.tenant)
    if channel is None:
        store.stop(engine, worker, timer, "no channel: set escalation.<severity>.channel or a route", now)
        return 0
    view = incident_view(deps, incident)
    age = now - as_utc(incident.first_seen)
    text = escalation_text(view, policy.mention, decision.number, decision.total, age)
    deps.poster.post_once(f"escalation:{incident.id}:{decision.number}", channel, text,
                          escalation_blocks(view, policy.mention, decision.number, decision.total, age),
                          kind="escalation", incident_id=incident.id)
    store.fired(engine, worker, timer, decision.number, decision.next_at, now)
    log.info("INC-%d escalated (%d of %d) in %s", incident.id, decision.number, decision.total, channel)
    return 1
