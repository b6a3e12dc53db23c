"""The escalation schedule, on explicit clocks: first due, repeats up to the limit, stops and postponements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import EscalationPolicy
from bot.escalation import Fire, IncidentState, Postpone, Stop, Wait, first_due, step, total_posts

T0 = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
POLICY = EscalationPolicy(ack_timeout=timedelta(minutes=15), repeat_every=timedelta(minutes=30), max_repeats=2)
OPEN = IncidentState("open")


def test_the_first_escalation_is_due_after_the_ack_timeout() -> None:
    due = first_due(T0, T0, POLICY)
    assert due == T0 + timedelta(minutes=15)
    assert step(OPEN, POLICY, 0, due, due - timedelta(seconds=1)) == Wait()
    assert step(OPEN, POLICY, 0, due, due) == Fire(1, 3, due + timedelta(minutes=30))


def test_the_timeout_counts_from_when_ballast_had_the_incident_not_from_when_the_alert_began() -> None:
    received = T0 + timedelta(hours=2)  # the alert fired two hours before it reached Ballast
    assert first_due(T0, received, POLICY) == received + timedelta(minutes=15)
    # A first signal stamped later than the arming (a sender's clock ahead) counts from the signal.
    assert first_due(received, T0, POLICY) == received + timedelta(minutes=15)


def test_repeats_run_up_to_the_limit_then_stop() -> None:
    now, due, fired, fires = T0, first_due(T0, T0, POLICY), 0, []
    while True:
        now = max(now, due)
        decision = step(OPEN, POLICY, fired, due, now)
        if not isinstance(decision, Fire):
            break
        fires.append((decision.number, now - T0))
        fired = decision.number
        if decision.next_at is None:
            break
        due = decision.next_at
    assert total_posts(POLICY) == 3
    assert fires == [(1, timedelta(minutes=15)), (2, timedelta(minutes=45)), (3, timedelta(minutes=75))]
    assert isinstance(step(OPEN, POLICY, fired, due, now + timedelta(days=1)), Stop)


def test_a_late_run_counts_the_next_repeat_from_when_it_fired() -> None:
    due = first_due(T0, T0, POLICY)
    late = due + timedelta(minutes=40)
    assert step(OPEN, POLICY, 0, due, late) == Fire(1, 3, late + timedelta(minutes=30))


def test_without_repeats_the_first_post_is_the_last() -> None:
    once = EscalationPolicy(ack_timeout=timedelta(minutes=5))
    due = first_due(T0, T0, once)
    assert step(OPEN, once, 0, due, due) == Fire(1, 1, None)
    assert isinstance(step(OPEN, once, 1, due, due), Stop)


def test_acknowledge_resolve_and_merge_stop_it() -> None:
    due = first_due(T0, T0, POLICY)
    assert step(IncidentState("acknowledged"), POLICY, 0, due, due) == Stop("acknowledged")
    assert step(IncidentState("resolved"), POLICY, 1, due, due) == Stop("resolved")
    assert isinstance(step(IncidentState("open", merged=True), POLICY, 0, due, due), Stop)
    assert isinstance(step(OPEN, None, 0, due, due), Stop)


def test_an_active_snooze_postpones_and_an_ended_one_does_not() -> None:
    due = first_due(T0, T0, POLICY)
    until = due + timedelta(hours=1)
    assert step(IncidentState("open", snoozed_until=until), POLICY, 0, due, due) == Postpone(until)
    assert step(IncidentState("open", snoozed_until=until), POLICY, 0, until, until) == Fire(1, 3, until + timedelta(minutes=30))
    # A snooze that ended before the timer came due changes nothing.
    assert step(IncidentState("open", snoozed_until=T0), POLICY, 0, due, due) == Fire(1, 3, due + timedelta(minutes=30))
