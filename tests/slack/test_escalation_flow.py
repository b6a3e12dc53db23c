"""Unacknowledged incidents escalate: posted to the escalation channel with the group mentioned and the card
linked, repeated up to the limit; acknowledge, snooze, resolve and merge stop or postpone it; the timers
are rows, so a restart still escalates, and two replicas post each escalation once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session

from bot import escalation_store
from bot import incidents as repo
from bot.blocks.ids import Ids
from bot.config import load_config
from bot.escalation_job import run_escalations
from bot.lifecycle import merge_incidents
from bot.models import EscalationTimer
from bot.scheduler import build_scheduler
from bot.slack.app import slack_deps
from tests.http.conftest import am_payload, drain, resolved
from tests.slack.alerting import CONFIG, ESCALATE, ROUTED, Stack, firing, key_of, make_stack, text_of, top_level
from tests.slack.conftest import wait_for

__all__ = ["make_stack"]  # the fixture
MakeStack = Callable[..., Stack]


ACK_TIMEOUT = timedelta(minutes=15)  # the critical policy of CONFIG


def opened(stack: Stack, started: datetime, **labels: str) -> tuple[int, datetime, dict[str, object]]:
    """Fire a critical checkout alert and post its card: the incident id, when its ack timeout started
    (its timer's arming, as the worker decided it) and its card."""
    stack.alert(firing(started, service="checkout-api", **labels))
    stack.deliver()
    with Session(stack.services.engine) as session:
        [incident] = [i for i in repo.list_incidents(session) if i.status == "open"
                      and (not labels or labels.get("alertname", "HighLatency") in i.title)]
        assert incident.id is not None
        first_seen = repo.as_utc(incident.first_seen)
    [timer] = escalation_store.timers(stack.services.engine, [incident.id])
    armed = timer["due_at"] - ACK_TIMEOUT
    assert first_seen <= armed <= datetime.now(UTC)
    card = next(m for m in top_level(stack.api, ROUTED) if f"INC-{incident.id}" in text_of(m))
    return incident.id, armed, card


def escalations(stack: Stack) -> list[dict[str, object]]:
    return top_level(stack.api, ESCALATE)


def test_unacknowledged_escalates_then_repeats_up_to_the_limit(make_stack: MakeStack) -> None:
    stack = make_stack()
    incident_id, t0, card = opened(stack, datetime.now(UTC))
    assert stack.escalate(t0 + timedelta(minutes=14, seconds=59)) == 0
    assert stack.escalate(t0 + timedelta(minutes=15)) == 1
    [first] = escalations(stack)
    text = text_of(first)
    assert "<!subteam^S0ONCALL>" in text and f"INC-{incident_id}" in text and "escalation 1 of 3" in text
    assert card["ts"].replace(".", "") in text  # the card is linked
    assert stack.escalate(t0 + timedelta(minutes=44)) == 0
    assert stack.escalate(t0 + timedelta(minutes=45)) == 1
    assert stack.escalate(t0 + timedelta(minutes=75)) == 1
    assert stack.escalate(t0 + timedelta(days=1)) == 0
    assert ["escalation 1 of 3" in text_of(m) for m in escalations(stack)] == [True, False, False]
    assert "escalation 3 of 3" in text_of(escalations(stack)[-1])
    [timer] = escalation_store.timers(stack.services.engine)
    assert (timer["state"], timer["fired"]) == ("done", 3)


def test_an_alert_that_began_before_it_reached_ballast_gets_the_whole_timeout(make_stack: MakeStack) -> None:
    stack = make_stack()
    before = datetime.now(UTC)
    _, armed, _ = opened(stack, before - timedelta(hours=2))  # firing for two hours, e.g. while Ballast was down
    assert armed >= before
    assert stack.escalate(datetime.now(UTC)) == 0
    assert stack.escalate(armed + timedelta(minutes=14)) == 0
    assert stack.escalate(armed + timedelta(minutes=15)) == 1


def test_acknowledge_on_the_card_stops_it(make_stack: MakeStack) -> None:
    stack = make_stack()
    incident_id, t0, card = opened(stack, datetime.now(UTC))
    stack.slack.click(Ids.ACKNOWLEDGE.value, str(incident_id), str(card["ts"]), channel=ROUTED)
    wait_for(lambda: stack.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "acknowledged",
             what="the acknowledgement")
    assert stack.escalate(t0 + timedelta(minutes=15)) == 0
    assert stack.escalate(t0 + timedelta(hours=3)) == 0
    assert escalations(stack) == []
    [timer] = escalation_store.timers(stack.services.engine)
    assert (timer["state"], timer["note"]) == ("stopped", "acknowledged")


def test_acknowledging_after_the_first_escalation_stops_the_repeats(make_stack: MakeStack) -> None:
    stack = make_stack()
    incident_id, t0, _ = opened(stack, datetime.now(UTC))
    assert stack.escalate(t0 + timedelta(minutes=15)) == 1
    [post] = escalations(stack)
    # The escalation post carries the card's buttons: acknowledge right there.
    stack.slack.click(Ids.ACKNOWLEDGE.value, str(incident_id), str(post["ts"]), channel=ESCALATE)
    wait_for(lambda: stack.client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "acknowledged",
             what="the acknowledgement")
    assert stack.escalate(t0 + timedelta(minutes=45)) == 0
    assert len(escalations(stack)) == 1


def test_snooze_postpones_until_it_ends(make_stack: MakeStack) -> None:
    stack = make_stack()
    incident_id, t0, card = opened(stack, datetime.now(UTC))
    clicked = datetime.now(UTC)
    stack.slack.click(Ids.SNOOZE_1H.value, str(incident_id), str(card["ts"]), channel=ROUTED)
    wait_for(lambda: stack.deps.poster.card(incident_id).snoozed_until is not None, what="the snooze")  # type: ignore[union-attr]
    assert stack.escalate(t0 + timedelta(minutes=15)) == 0
    [timer] = escalation_store.timers(stack.services.engine)
    assert clicked + timedelta(hours=1) <= timer["due_at"] <= datetime.now(UTC) + timedelta(hours=1)  # type: ignore[operator]
    assert stack.escalate(t0 + timedelta(minutes=59)) == 0
    assert stack.escalate(timer["due_at"]) == 1  # type: ignore[arg-type]
    assert len(escalations(stack)) == 1


def test_a_resolved_alert_stops_it(make_stack: MakeStack) -> None:
    stack = make_stack()
    started = datetime.now(UTC)
    _, t0, _ = opened(stack, started)
    assert stack.escalate(t0 + timedelta(minutes=15)) == 1
    payload = resolved(am_payload(firing(started, service="checkout-api")))
    assert stack.client.post("/webhooks/alertmanager", json=payload).status_code == 202
    drain(stack.client)
    assert stack.escalate(t0 + timedelta(minutes=45)) == 0
    assert len(escalations(stack)) == 1
    assert escalation_store.timers(stack.services.engine)[0]["note"] == "resolved"


def test_a_merged_incident_stops_escalating(make_stack: MakeStack) -> None:
    stack = make_stack()
    now = datetime.now(UTC)
    first, t0, _ = opened(stack, now)
    second, _, _ = opened(stack, now, alertname="ErrorBudgetBurn")
    merge_incidents(stack.services.engine, second, first)
    assert stack.escalate(t0 + timedelta(minutes=15)) == 1  # only the surviving incident
    assert f"INC-{first}" in text_of(escalations(stack)[0])


def test_other_severities_and_unrouted_policies_do_not_escalate(make_stack: MakeStack) -> None:
    stack = make_stack()
    t0 = datetime.now(UTC)
    stack.alert(firing(t0, service="checkout-api", severity="warning"))
    stack.deliver()
    assert stack.escalate(t0 + timedelta(days=1)) == 0
    assert escalation_store.timers(stack.services.engine) == []


def test_a_restart_on_the_same_database_still_escalates(make_stack: MakeStack) -> None:
    first = make_stack()
    incident_id, t0, _ = opened(first, datetime.now(UTC))
    assert first.escalate(t0 + timedelta(minutes=15)) == 1
    first.client.__exit__(None, None, None)
    first.services.close()  # the process is gone; only the database remains
    second = make_stack()
    assert second.escalate(t0 + timedelta(minutes=30)) == 0  # the repeat is not due yet: the timer was kept
    assert second.escalate(t0 + timedelta(minutes=45)) == 1
    assert [f"escalation {n} of 3" in text_of(m) for n, m in enumerate(escalations(second), 1)] == [True, True]


def test_the_scheduler_in_a_fresh_process_posts_cards_and_escalations(make_stack: MakeStack) -> None:
    stack = make_stack()
    # Decided 20 minutes ago, but never shown: the process died before its jobs ran.
    stack.alert(firing(datetime.now(UTC) - timedelta(minutes=20), service="checkout-api"))
    with stack.services.engine.begin() as conn:
        conn.execute(update(EscalationTimer).values(due_at=datetime.now(UTC) - timedelta(minutes=5)))
    scheduler = build_scheduler(stack.services, load_config(stack.services.settings.resolved_config_file))
    assert {job.id for job in scheduler.get_jobs()} == {"retention", "slack-outbox", "escalations"}
    scheduler.start()
    try:
        wait_for(lambda: escalations(stack), what="the escalation from the scheduled job")
        wait_for(lambda: top_level(stack.api, ROUTED), what="the card from the scheduled job")
    finally:
        scheduler.shutdown(wait=True)
    assert len(escalations(stack)) == 1 and len(top_level(stack.api, ROUTED)) == 1


def test_two_replicas_post_each_escalation_once(make_stack: MakeStack) -> None:
    stack = make_stack()
    incidents = [opened(stack, datetime.now(UTC), alertname=f"Alert{i}") for i in range(6)]
    other = slack_deps(stack.services.__class__(stack.services.settings, stack.services.embedder),
                       stack.deps.config.file)  # a second replica: its own engine and poster, the same database
    due = max(t0 for _, t0, _ in incidents) + timedelta(minutes=15)
    barrier = threading.Barrier(2)
    posted: dict[str, int] = {}

    def replica(name: str, deps: object) -> None:
        barrier.wait()
        posted[name] = run_escalations(deps, name, due)  # type: ignore[arg-type]

    threads = [threading.Thread(target=replica, args=("a", stack.deps)),
               threading.Thread(target=replica, args=("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert posted["a"] + posted["b"] == 6
        posts = escalations(stack)
        assert len(posts) == 6
        assert sorted(int(text_of(m).split("INC-")[1].split(">")[0].split(" ")[0]) for m in posts) == sorted(
            i for i, _, _ in incidents)
    finally:
        other.services.close()


def test_a_slack_report_arms_its_timer_when_it_opens(make_stack: MakeStack) -> None:
    stack = make_stack(CONFIG + "  warning:\n    ack_timeout: 1h\n")
    reply = stack.slack.command("/incident", "checkout returns 502 for EU users", channel=ROUTED)
    assert reply.status_code == 200
    wait_for(lambda: drain(stack.client), what="the report, decided from the inbox")
    stack.deliver()
    [card] = wait_for(lambda: top_level(stack.api, ROUTED), what="the card of the report")
    [timer] = wait_for(lambda: escalation_store.timers(stack.services.engine), what="the stored timer")
    with Session(stack.services.engine) as session:
        incident = repo.get_incident(session, int(timer["incident_id"]))  # type: ignore[arg-type]
    t0 = timer["due_at"] - timedelta(hours=1)  # armed as the report was decided
    assert incident.severity == "warning" and repo.as_utc(incident.first_seen) <= t0 <= datetime.now(UTC)
    assert stack.escalate(t0 + timedelta(minutes=59)) == 0
    assert stack.escalate(t0 + timedelta(hours=1)) == 1
    assert escalations(stack) == []  # this policy names no channel: the card's channel is used
    [post] = [m for m in top_level(stack.api, ROUTED) if key_of(m).startswith("escalation:")]
    assert "escalation 1 of 1" in text_of(post) and card["ts"].replace(".", "") in text_of(post)
    assert "<!subteam" not in text_of(post)  # this policy names no group
