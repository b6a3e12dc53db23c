"""Retention: old finished rows of the inbox, the Slack outbox and the escalation timers go; the rest stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select, update

from bot import escalation_store, inbox, retention
from bot.app import Services
from bot.config import BallastConfig
from bot.incidents import utcnow
from bot.models import EscalationTimer, InboxEntry, Incident, SlackNotice
from bot.scheduler import build_scheduler
from bot.slack import outbox
from retrieval.signal import Signal, signal_from_mapping

NOW = utcnow()
OLD = NOW - timedelta(days=20)
RECENT = NOW - timedelta(days=2)
INBOX: Table = InboxEntry.__table__  # type: ignore[attr-defined]
OUTBOX: Table = SlackNotice.__table__  # type: ignore[attr-defined]
TIMERS: Table = EscalationTimer.__table__  # type: ignore[attr-defined]
INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]


def sig(obj: dict[str, Any]) -> Signal:
    return signal_from_mapping(obj, max_text_chars=16_000)


def ids(engine: Engine, table: Table) -> set[int]:
    with engine.connect() as conn:
        return {int(i) for i in conn.execute(select(table.c.id)).scalars()}


def set_rows(engine: Engine, table: Table, row_ids: list[int], **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id.in_(row_ids)).values(**values))


def seed_inbox(services: Services, n: int) -> list[int]:
    signals = [sig({"text": f"disk full on node {i}", "id": str(i)}) for i in range(n)]
    return inbox.enqueue(services.engine, signals, ["test"] * n)


def an_incident(services: Services, text: str = "certificate expired for api") -> int:
    [result] = services.intake.process([sig({"text": text})], [text])
    assert result.incident_id is not None
    return result.incident_id


def test_old_finished_inbox_rows_go_and_pending_or_recent_ones_stay(services: Services) -> None:
    old_done, old_failed, recent_done, old_pending = seed_inbox(services, 4)
    set_rows(services.engine, INBOX, [old_done], status=inbox.DONE, finished_at=OLD)
    set_rows(services.engine, INBOX, [old_failed], status=inbox.FAILED, finished_at=OLD)
    set_rows(services.engine, INBOX, [recent_done], status=inbox.DONE, finished_at=RECENT)
    set_rows(services.engine, INBOX, [old_pending], received_at=OLD)  # never finished: still work to do
    counts = retention.prune(services.engine, keep_days=14, now=NOW)
    assert counts["inbox"] == 2
    assert ids(services.engine, INBOX) == {recent_done, old_pending}


def test_old_shown_notices_and_ended_timers_go(services: Services) -> None:
    incident_id = an_incident(services)
    rows = [{"key": f"k{i}", "tenant": "default", "incident_id": incident_id, "kind": outbox.DUPLICATE,
             "payload": "{}", "status": status, "due_at": created, "attempts": 0, "created_at": created}
            for i, (status, created) in enumerate([(outbox.DONE, OLD), (outbox.SKIPPED, OLD), (outbox.FAILED, OLD),
                                                   (outbox.PENDING, OLD), (outbox.DONE, RECENT)])]
    with services.engine.begin() as conn:
        outbox.add(conn, rows)
    second = an_incident(services, "replication lag on orders replica")
    timers = [{"incident_id": i, "tenant": "default", "state": state, "due_at": OLD, "fired": 1, "attempts": 1,
               "updated_at": updated} for i, state, updated in [(incident_id, escalation_store.DONE, OLD),
                                                                 (second, escalation_store.PENDING, OLD)]]
    with services.engine.begin() as conn:
        conn.execute(TIMERS.insert(), timers)
    counts = retention.prune(services.engine, keep_days=14, now=NOW)
    assert counts == {"inbox": 0, "slack_outbox": 3, "escalations": 1}
    with services.engine.connect() as conn:
        assert sorted(conn.execute(select(OUTBOX.c.key)).scalars()) == ["k3", "k4"]
        assert list(conn.execute(select(TIMERS.c.incident_id)).scalars()) == [second]


def test_a_pruned_timer_is_not_armed_again(services: Services) -> None:
    incident_id = an_incident(services)
    config = BallastConfig.model_validate({"escalation": {"warning": {"ack_timeout": "5m"}}})
    assert escalation_store.arm(services.engine, config, now=NOW) == 1
    set_rows(services.engine, TIMERS, list(ids(services.engine, TIMERS)), state=escalation_store.DONE, updated_at=OLD)
    # The incident is still open; it was first seen as long ago as its timer ended.
    set_rows(services.engine, INCIDENTS, [incident_id], first_seen=OLD)
    assert retention.prune(services.engine, keep_days=14, now=NOW)["escalations"] == 1
    assert escalation_store.arm(services.engine, config, now=NOW) == 0


def test_deletes_in_batches_until_nothing_is_left(services: Services) -> None:
    rows = seed_inbox(services, 7)
    set_rows(services.engine, INBOX, rows, status=inbox.DONE, finished_at=OLD)
    table, where = inbox.finished_before(NOW)
    assert retention.delete_in_batches(services.engine, table, where, batch=2) == 7
    assert ids(services.engine, INBOX) == set()


def test_zero_days_keeps_everything(services: Services) -> None:
    rows = seed_inbox(services, 2)
    set_rows(services.engine, INBOX, rows, status=inbox.DONE, finished_at=OLD)
    assert retention.prune(services.engine, keep_days=0, now=NOW) == {}
    assert ids(services.engine, INBOX) == set(rows)


def test_finishing_an_entry_drops_its_slack_reply(services: Services) -> None:
    signal = sig({"text": "checkout is down for everyone", "source": "slack"})
    reply = {"channel": "C1", "user": "U1", "response_url": "https://hooks.slack.com/commands/T1/2/secret"}
    [row_id] = inbox.enqueue(services.engine, [signal], ["slack"], [reply])
    [claimed] = inbox.claim(services.engine, "w1", 10, 60)
    assert claimed.reply == reply
    assert inbox.finish(services.engine, "w1", {row_id: {"decision": "new"}}) == 1
    with services.engine.connect() as conn:
        assert conn.execute(select(INBOX.c.reply).where(INBOX.c.id == row_id)).scalar_one() is None


@pytest.mark.parametrize(("days", "jobs"), [(14, {"retention"}), (0, set())])
def test_serve_runs_retention_hourly_even_without_slack(make_services: Any, days: int, jobs: set[str]) -> None:
    svc = make_services(retention_days=days)
    scheduler = build_scheduler(svc, BallastConfig())
    assert {job.id for job in scheduler.get_jobs()} == jobs
