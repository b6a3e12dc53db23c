"""The escalation timer repository: arm a timer per open incident, claim due timers once, advance or stop them.

Every SQL statement on `escalations` lives here. Timers are rows, so they survive restarts; a
claim is one UPDATE over due rows (PostgreSQL adds FOR UPDATE SKIP LOCKED; SQLite runs it under
its write lock), so with several replicas each due escalation is taken by exactly one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.config import BallastConfig
from bot.escalation import first_due
from bot.incidents import as_utc, utcnow
from bot.models import EscalationTimer, Incident

PENDING, DONE, STOPPED = "pending", "done", "stopped"
ARM_BATCH = 500
ARM_GRACE = timedelta(hours=24)  # an incident whose whole escalation ended longer ago than this is not armed
MAX_BACKOFF = 300.0
_T = EscalationTimer.__table__  # type: ignore[attr-defined]
_I = Incident.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Timer:
    id: int
    incident_id: int
    fired: int
    due_at: datetime
    attempts: int


def arm(engine: Engine, config: BallastConfig, now: datetime | None = None) -> int:
    """Store a timer for each open incident whose severity has a policy and that has none yet; how many.

    This sweep catches incidents opened where no timer was stored (the CLI, an older version); their
    ack timeout counts from this arming (bot/escalation.py `first_due`), seconds after they opened.
    """
    if not config.escalation:
        return 0
    with engine.begin() as conn:
        return arm_in(conn, config, now or utcnow())


def arm_incidents(engine: Engine, config: BallastConfig, incident_ids: Sequence[int], now: datetime | None = None) -> int:
    """Store the timers of these just-opened incidents (the ones whose severity escalates)."""
    if not config.escalation or not incident_ids:
        return 0
    with engine.begin() as conn:
        return arm_in(conn, config, now or utcnow(), incident_ids)


def arm_in(conn: Connection, config: BallastConfig, now: datetime, incident_ids: Sequence[int] | None = None) -> int:
    """`arm` inside the caller's transaction, for `incident_ids` only when given (intake's new incidents)."""
    armed = 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for severity, policy in config.escalation.items():
        span = policy.ack_timeout + (policy.repeat_every or timedelta(0)) * policy.max_repeats
        has_timer = exists().where(_T.c.incident_id == _I.c.id)
        stmt = (select(_I.c.id, _I.c.tenant, _I.c.first_seen)
                .where(_I.c.status == "open", _I.c.merged_into.is_(None), _I.c.severity == severity,
                       _I.c.first_seen >= now - span - ARM_GRACE, ~has_timer)
                .order_by(_I.c.id).limit(ARM_BATCH))
        if incident_ids is not None:
            stmt = stmt.where(_I.c.id.in_(list(incident_ids)))
        found = conn.execute(stmt).all()
        if not found:
            continue
        rows = [{"incident_id": int(r[0]), "tenant": r[1], "state": PENDING,
                 "due_at": first_due(as_utc(r[2]), now, policy), "fired": 0, "attempts": 0, "updated_at": now}
                for r in found]
        conn.execute(insert(_T).on_conflict_do_nothing(index_elements=["incident_id"]), rows)
        armed += len(rows)
    return armed


def finished_before(before: datetime) -> tuple[Table, ColumnElement[bool]]:
    """The timers `bot/retention.py` may delete: done or stopped, last changed before `before`.

    A deleted timer is not armed again: the sweep arms only incidents first seen within their
    escalation span plus ARM_GRACE, and a timer that finished before `before` (at least a day ago:
    retention is at least a day) belongs to an incident whose span ended before that.
    """
    return _T, and_(_T.c.state.in_((DONE, STOPPED)), _T.c.updated_at < before)


def _claimable(now: datetime) -> Any:
    return and_(_T.c.state == PENDING, _T.c.due_at <= now, or_(_T.c.lease_until.is_(None), _T.c.lease_until < now))


def claim_due(engine: Engine, worker: str, limit: int, lease_seconds: float, now: datetime | None = None) -> list[Timer]:
    """Take up to `limit` due timers for `worker` (leased, so a dead worker's timers come back)."""
    now = now or utcnow()
    pg = engine.dialect.name == "postgresql"
    due = select(_T.c.id).where(_claimable(now)).order_by(_T.c.due_at, _T.c.id).limit(limit)
    if pg:
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("picked")
    if pg:
        picked = picked.prefix_with("MATERIALIZED")
    stmt = (update(_T).where(_T.c.id.in_(select(picked.c.id)), _claimable(now))
            .values(claimed_by=worker, lease_until=now + timedelta(seconds=lease_seconds), attempts=_T.c.attempts + 1)
            .returning(_T.c.id, _T.c.incident_id, _T.c.fired, _T.c.due_at, _T.c.attempts))
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((Timer(int(r[0]), int(r[1]), int(r[2]), as_utc(r[3]), int(r[4])) for r in rows),
                  key=lambda t: (t.due_at, t.id))


def _save(engine: Engine, worker: str, timer_id: int, now: datetime, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(_T).where(_T.c.id == timer_id, _T.c.claimed_by == worker)
                     .values(claimed_by=None, lease_until=None, updated_at=now, **values))


def fired(engine: Engine, worker: str, timer: Timer, number: int, next_at: datetime | None, now: datetime) -> None:
    """Escalation `number` is posted: due again at `next_at`, or done."""
    if next_at is None:
        _save(engine, worker, timer.id, now, fired=number, state=DONE, attempts=0, note="escalated the maximum number of times")
    else:
        _save(engine, worker, timer.id, now, fired=number, due_at=next_at, attempts=0)


def stop(engine: Engine, worker: str, timer: Timer, reason: str, now: datetime) -> None:
    _save(engine, worker, timer.id, now, state=STOPPED, note=reason[:200])


def postpone(engine: Engine, worker: str, timer: Timer, until: datetime, now: datetime) -> None:
    _save(engine, worker, timer.id, now, due_at=until, attempts=0)


def retry(engine: Engine, worker: str, timer: Timer, error: str, now: datetime) -> None:
    """The post failed: try again after a backoff (the escalation stays due; nothing is skipped)."""
    backoff = min(MAX_BACKOFF, 2.0 ** min(timer.attempts, 16))
    _save(engine, worker, timer.id, now, due_at=max(timer.due_at, now + timedelta(seconds=backoff)),
          note=error[:200])


def timers(engine: Engine, incident_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Timer rows as dicts (for tests and diagnostics)."""
    stmt = select(_T.c.incident_id, _T.c.state, _T.c.due_at, _T.c.fired, _T.c.note).order_by(_T.c.incident_id)
    if incident_ids is not None:
        stmt = stmt.where(_T.c.incident_id.in_(list(incident_ids)))
    with engine.connect() as conn:
        return [{"incident_id": r[0], "state": r[1], "due_at": as_utc(r[2]), "fired": r[3], "note": r[4]}
                for r in conn.execute(stmt).all()]


def pending_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_T).where(_T.c.state == PENDING)).scalar_one())

