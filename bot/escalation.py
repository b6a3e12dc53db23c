"""When an unacknowledged incident escalates: the pure schedule (first due time, fire, repeat, stop, postpone).

No clock and no IO here: callers pass `now` and the incident's state; bot/escalation_store.py keeps
the timers in the database and bot/escalation_job.py posts what is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import EscalationPolicy


@dataclass(frozen=True)
class IncidentState:
    """What of an incident decides its escalation."""

    status: str  # open / acknowledged / resolved
    merged: bool = False
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class Fire:
    """Post escalation `number` (1-based) of `total`; `next_at` is when the next one is due (None: the last)."""

    number: int
    total: int
    next_at: datetime | None


@dataclass(frozen=True)
class Stop:
    reason: str


@dataclass(frozen=True)
class Postpone:
    until: datetime


@dataclass(frozen=True)
class Wait:
    """Not due yet."""


Step = Fire | Stop | Postpone | Wait


def first_due(first_seen: datetime, armed_at: datetime, policy: EscalationPolicy) -> datetime:
    """The ack timeout counts from when Ballast had the incident (its timer armed), or from its first
    signal if that is later: an alert that fired for an hour before it reached Ballast still gives
    the on-call the whole timeout after its card appears, instead of escalating at once."""
    return max(first_seen, armed_at) + policy.ack_timeout


def total_posts(policy: EscalationPolicy) -> int:
    """The first escalation plus its repeats."""
    return 1 + policy.max_repeats


def step(state: IncidentState, policy: EscalationPolicy | None, fired: int, due_at: datetime, now: datetime) -> Step:
    """What to do with a timer that has posted `fired` escalations and is due at `due_at`, at `now`."""
    if policy is None:
        return Stop("its severity has no escalation policy")
    if state.merged:
        return Stop("merged into another incident")
    if state.status == "resolved":
        return Stop("resolved")
    if state.status == "acknowledged":
        return Stop("acknowledged")
    total = total_posts(policy)
    if fired >= total:
        return Stop("escalated the maximum number of times")
    if now < due_at:
        return Wait()
    if state.snoozed_until is not None and state.snoozed_until > now:
        return Postpone(state.snoozed_until)
    number = fired + 1
    next_at = now + policy.repeat_every if number < total and policy.repeat_every is not None else None
    return Fire(number, total, next_at)
