"""Store first: acknowledged signals survive a restart, and every inbox row is decided exactly once.

A new app instance picks up rows left pending or leased by a dead process; two worker pools on
one database (PostgreSQL: SKIP LOCKED) never take the same row; a row decided but not marked done
before a crash is a replay when it runs again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlmodel import Session

from bot import inbox
from bot.app import Services
from bot.incidents import utcnow
from bot.models import InboxEntry, Incident, SignalRecord
from bot.worker import WorkerPool
from tests.http.conftest import am_alert, am_payload, app_of, drain

_T = InboxEntry.__table__  # type: ignore[attr-defined]


def signal_count(services: Services) -> int:
    with Session(services.engine) as session:
        return int(session.exec(select(func.count()).select_from(SignalRecord)).one()[0])  # type: ignore[call-overload]


def statuses(services: Services) -> dict[str, int]:
    with services.engine.connect() as conn:
        return {s: int(n) for s, n in conn.execute(select(_T.c.status, func.count()).group_by(_T.c.status))}


def test_a_new_instance_processes_what_a_dead_one_left(make_client: Callable[..., TestClient],
                                                       services: Services) -> None:
    first = make_client(services=services)
    ids = [first.post("/webhooks/alertmanager", json=am_payload(am_alert(instance=f"h{i}"))).json()["ids"][0]
           for i in range(6)]
    # The dead process had claimed two rows when it died; their lease has run out since.
    claimed = inbox.claim(services.engine, "dead-worker", 2, lease_seconds=60)
    with services.engine.begin() as conn:
        conn.execute(update(_T).where(_T.c.id.in_([c.id for c in claimed])).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert statuses(services) == {"pending": 4, "processing": 2}

    second = make_client(services=services, start_workers=True)
    pool = app_of(second).state.pool
    deadline = utcnow() + timedelta(seconds=20)
    while statuses(services) != {"done": 6}:
        assert utcnow() < deadline, statuses(services)
        pool.wake()
        threading.Event().wait(0.05)
    assert signal_count(services) == 6
    results = [second.get(f"/api/v1/alerts/{i}").json()["result"] for i in ids]
    assert all(r["incident_id"] is not None and not r.get("replayed") for r in results)


def test_a_live_lease_is_not_taken_over(services: Services) -> None:
    inbox.enqueue(services.engine, [am_signal(0)], ["alertmanager"])
    assert len(inbox.claim(services.engine, "worker-a", 10, lease_seconds=60)) == 1
    assert inbox.claim(services.engine, "worker-b", 10, lease_seconds=60) == []


def am_signal(i: int):  # type: ignore[no-untyped-def]
    from bot.webhooks import AlertmanagerPayload, payload_signals

    payload = AlertmanagerPayload.model_validate(am_payload(am_alert(instance=f"host-{i}")))
    return payload_signals(payload, source="alertmanager", tenant="default", max_text_chars=16_000)[0]


def test_decided_but_not_marked_done_is_a_replay(services: Services) -> None:
    [row_id] = inbox.enqueue(services.engine, [am_signal(1)], ["alertmanager"])
    crashing = WorkerPool(services, batch=10, lease_seconds=0.01)
    claimed = inbox.claim(services.engine, crashing.name, 10, lease_seconds=0.01)
    crashing._decide(claimed)  # decided and committed by intake, then the process "dies" before finish
    threading.Event().wait(0.05)
    survivor = WorkerPool(services, batch=10)
    assert survivor.run_once() == 1
    with Session(services.engine) as session:
        [incident] = session.exec(select(Incident)).all()  # type: ignore[call-overload]
        assert incident[0].occurrence_count == 1
    assert signal_count(services) == 1
    state = inbox.entry_state(services.engine, "default", row_id)
    assert state is not None and state["status"] == "done" and state["result"]["replayed"] is True


def test_two_pools_process_each_row_exactly_once(services: Services) -> None:
    rows = inbox.enqueue(services.engine, [am_signal(i) for i in range(120)], ["alertmanager"] * 120)
    pools = [WorkerPool(services, batch=7), WorkerPool(services, batch=5)]
    taken: dict[str, list[int]] = {p.name: [] for p in pools}
    real_claim = inbox.claim

    def run(pool: WorkerPool) -> None:
        while True:
            claimed = real_claim(services.engine, pool.name, pool.batch, 60)
            if not claimed:
                return
            taken[pool.name].extend(c.id for c in claimed)
            results = pool._decide(claimed)
            assert inbox.finish(services.engine, pool.name, results) == len(claimed)

    threads = [threading.Thread(target=run, args=(p,)) for p in pools]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    all_taken = [i for ids in taken.values() for i in ids]
    assert sorted(all_taken) == rows  # every row once, none twice
    assert statuses(services) == {"done": 120}
    assert signal_count(services) == 120


def test_a_failing_row_is_retried_later_then_marked_failed(services: Services) -> None:
    [row_id] = inbox.enqueue(services.engine, [am_signal(2)], ["alertmanager"])
    [claimed] = inbox.claim(services.engine, "w", 1, lease_seconds=60)
    inbox.release(services.engine, "w", [claimed], "RuntimeError: boom")
    assert statuses(services) == {"processing": 1}  # backing off: not claimable until its lease ends
    assert inbox.claim(services.engine, "w", 1, lease_seconds=60) == []
    with services.engine.begin() as conn:
        conn.execute(update(_T).values(attempts=inbox.MAX_ATTEMPTS, lease_until=utcnow() - timedelta(seconds=1)))
    [again] = inbox.claim(services.engine, "w", 1, lease_seconds=60)
    inbox.release(services.engine, "w", [again], "RuntimeError: boom")
    state = inbox.entry_state(services.engine, "default", row_id)
    assert state is not None and state["status"] == "failed" and "boom" in state["result"]["error"]


def test_drain_helper_and_backlog_agree(client: TestClient) -> None:
    client.post("/webhooks/alertmanager", json=am_payload(am_alert(instance="a"), am_alert(instance="b")))
    assert app_of(client).state.backlog.refresh() == 2
    assert drain(client) == 2
    assert app_of(client).state.backlog.refresh() == 0
