"""The inbox repository: signals committed on receipt, claimed in batches by workers, marked done.

Every SQL statement on the `inbox` table lives here. A claim is one UPDATE ... RETURNING over the
oldest claimable rows (PostgreSQL adds FOR UPDATE SKIP LOCKED, so replicas never take the same
row; SQLite runs the statement under its single write lock), with a lease that a dead process
lets expire.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, bindparam, func, insert, or_, select, update

from bot.incidents import as_utc, utcnow
from bot.models import InboxEntry
from bot.slack import outbox
from retrieval.signal import Signal, parse_time

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
MAX_ATTEMPTS = 8
_TABLE = InboxEntry.__table__  # type: ignore[attr-defined]
_FIELDS = tuple(f.name for f in fields(Signal))


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    received_at: datetime
    signal: Signal
    reply: dict[str, Any] | None = None  # where to answer, for a report filed from Slack


def encode_signal(signal: Signal) -> str:
    # Field by field, not dataclasses.asdict: that deep-copies every dict and costs 5x more.
    data = {name: getattr(signal, name) for name in _FIELDS}
    data["time"] = None if signal.time is None else signal.time.isoformat()
    return json.dumps(data, ensure_ascii=False, default=str)


def decode_signal(payload: str) -> Signal:
    data: dict[str, Any] = json.loads(payload)
    data["time"] = parse_time(data.get("time"))
    return Signal(**data)


def enqueue(engine: Engine, signals: Sequence[Signal], sources: Sequence[str],
            replies: Sequence[dict[str, Any] | None] | None = None) -> list[int]:
    """Insert the signals as pending rows in one transaction and commit; their ids, in order.

    `replies` (one per signal, or None) say where to answer a report filed from Slack; the worker
    hands them on to the Slack outbox with the decision.
    """
    if not signals:
        return []
    now = utcnow()
    answers = replies if replies is not None else [None] * len(signals)
    rows = [{"tenant": s.tenant, "source": src, "status": PENDING, "payload": encode_signal(s),
             "received_at": now, "attempts": 0, "reply": None if r is None else json.dumps(r)}
            for s, src, r in zip(signals, sources, answers, strict=True)]
    stmt = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
    with engine.begin() as conn:
        return [int(row[0]) for row in conn.execute(stmt, rows)]


def _claimable(now: datetime) -> Any:
    return or_(_TABLE.c.status == PENDING, and_(_TABLE.c.status == PROCESSING, _TABLE.c.lease_until < now))


def claim(engine: Engine, worker: str, limit: int, lease_seconds: float) -> list[Claimed]:
    """Take up to `limit` of the oldest pending rows (or rows whose lease ran out) for `worker`."""
    now = utcnow()
    oldest = select(_TABLE.c.id).where(_claimable(now)).order_by(_TABLE.c.id).limit(limit)
    if engine.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    # A materialized CTE runs the locking SELECT once; as a plain `IN (subquery)` PostgreSQL may
    # run it again per row and claim more than `limit` rows.
    picked = oldest.cte("picked")
    if engine.dialect.name == "postgresql":
        picked = picked.prefix_with("MATERIALIZED")
    stmt = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(select(picked.c.id)), _claimable(now))
        .values(status=PROCESSING, claimed_by=worker, lease_until=now + timedelta(seconds=lease_seconds),
                attempts=_TABLE.c.attempts + 1)
        .returning(_TABLE.c.id, _TABLE.c.attempts, _TABLE.c.received_at, _TABLE.c.payload, _TABLE.c.reply)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    claimed = [Claimed(int(r[0]), int(r[1]), as_utc(r[2]), decode_signal(r[3]), json.loads(r[4]) if r[4] else None)
               for r in rows]
    return sorted(claimed, key=lambda c: c.id)


def finish(engine: Engine, worker: str, results: dict[int, dict[str, Any]],
           notices: Sequence[dict[str, Any]] = (), then: Callable[[Connection], Any] | None = None) -> int:
    """Mark claimed rows done with their results; a row whose lease another worker took is left alone.

    `notices` (bot/slack/outbox.py rows: what Slack is to show of these results) are stored in the
    same transaction, so a decision is never done without them; their keys make a re-run add none.
    `then` runs last in that transaction (the worker arms escalation timers there).
    """
    if not results:
        return 0
    stmt = (
        update(_TABLE)
        .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.claimed_by == worker, _TABLE.c.status == PROCESSING)
        # `reply` went to the outbox with the notice; the Slack response_url in it is not kept here.
        .values(status=DONE, finished_at=bindparam("now"), lease_until=None, result=bindparam("res"), reply=None)
    )
    now = utcnow()
    params = [{"row_id": k, "now": now, "res": json.dumps(v, default=str)} for k, v in results.items()]
    with engine.begin() as conn:
        done = int(conn.execute(stmt, params).rowcount or 0)
        outbox.add(conn, notices)
        if then is not None:
            then(conn)
        return done


def release(engine: Engine, worker: str, failed: Sequence[Claimed], error: str) -> None:
    """Give rows back after a failure: retried when a backoff lease expires, failed after MAX_ATTEMPTS."""
    now = utcnow()
    with engine.begin() as conn:
        for item in failed:
            done = item.attempts >= MAX_ATTEMPTS
            values: dict[str, Any] = {"result": json.dumps({"error": error[:2000]}), "claimed_by": None}
            if done:
                values.update(status=FAILED, finished_at=now, lease_until=None)
            else:
                values.update(lease_until=now + timedelta(seconds=min(60, 2**item.attempts)))
            conn.execute(update(_TABLE).where(_TABLE.c.id == item.id, _TABLE.c.claimed_by == worker).values(**values))


def finished_before(before: datetime) -> tuple[Table, ColumnElement[bool]]:
    """The rows `bot/retention.py` may delete: done or failed before `before` (pending work never)."""
    return _TABLE, and_(_TABLE.c.status.in_((DONE, FAILED)), _TABLE.c.finished_at < before)


def backlog(engine: Engine) -> int:
    """Rows not yet done: pending plus in progress (what the overload bound is measured on)."""
    stmt = select(func.count()).select_from(_TABLE).where(_TABLE.c.status.in_((PENDING, PROCESSING)))
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def entry_state(engine: Engine, tenant: str, entry_id: int) -> dict[str, Any] | None:
    """One row's state and, once processed, its intake result; None when not in `tenant`."""
    stmt = select(_TABLE.c.id, _TABLE.c.status, _TABLE.c.source, _TABLE.c.received_at, _TABLE.c.result).where(
        _TABLE.c.id == entry_id, _TABLE.c.tenant == tenant)
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    result = json.loads(row.result) if row.result else None
    return {"id": row.id, "status": row.status, "source": row.source,
            "received_at": row.received_at.isoformat() if row.received_at else None, "result": result}
