"""The Slack outbox repository: decisions stored with their inbox rows, claimed when due, marked done or retried.

Every SQL statement on `slack_outbox` lives here. A notice is written in the transaction that
marks its inbox row done, under the signal's own key, so a re-run or a retried delivery adds
nothing. Claims work like the inbox's: one UPDATE over due rows (PostgreSQL adds SKIP LOCKED),
with a lease a dead process lets expire. Repeats of one incident are folded into one claim.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.incidents import as_utc, utcnow
from bot.models import SlackNotice
from retrieval.signal import Signal

PENDING, PROCESSING, DONE, FAILED, SKIPPED = "pending", "processing", "done", "failed", "skipped"
NEW, REGRESSION, DUPLICATE, RESOLVE = "new", "regression", "duplicate", "resolve"
REPORT = "report"  # a report filed from Slack: answered where it was filed, each repeat its own reply
MAX_ATTEMPTS = 60  # with the 5-minute backoff cap: a Slack outage of about four hours is waited out
MAX_BACKOFF = 300.0
_TABLE = SlackNotice.__table__  # type: ignore[attr-defined]
_TEXT_KEPT = 4000  # what a thread reply can show of a report


@dataclass(frozen=True)
class Notice:
    id: int
    key: str
    tenant: str
    incident_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int

    @property
    def reply(self) -> dict[str, Any] | None:
        found = self.payload.get("reply")
        return found if isinstance(found, dict) else None

    @property
    def signal(self) -> Signal:
        data = self.payload.get("signal") or {}
        return Signal(text=str(data.get("text") or ""), tenant=self.tenant, source=data.get("source"),
                      title=data.get("title"), labels=dict(data.get("labels") or {}), status=str(data.get("status") or "firing"))


def notice_key(signal: Signal) -> str:
    """The signal's identity (as intake's replay check sees it): a redelivery maps to the same notice."""
    raw = json.dumps([signal.tenant, signal.source, signal.external_id, signal.text], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def notice_row(signal: Signal, result: dict[str, Any], now: datetime, thread_window: float,
               reply: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The outbox row for one intake result, or None when there is nothing to show (rejected, failed).

    `reply` (a report filed from Slack: channel, user, event key) makes it a `report`: its card goes
    where it was filed and it is answered at once, never gathered with other repeats.
    """
    incident_id = result.get("incident_id")
    if incident_id is None or result.get("error") or result.get("decision") == "rejected":
        return None
    decision = str(result.get("decision"))
    if reply is not None:
        kind = REPORT
    elif signal.status == "resolved":
        kind = RESOLVE
    elif decision == "duplicate":
        kind = DUPLICATE
    elif decision == "regression":
        kind = REGRESSION
    else:
        kind = NEW
    payload = {
        "signal": {"text": signal.text[:_TEXT_KEPT], "source": signal.source, "title": signal.title,
                   "labels": signal.labels, "status": signal.status},
        "decision": decision, "similarity": result.get("similarity"), "candidate": result.get("candidate"),
        "reply": reply,
    }
    # Repeats wait out the thread window, so a flood of them becomes one reply per window.
    due = now + timedelta(seconds=thread_window) if kind == DUPLICATE else now
    return {"key": notice_key(signal), "tenant": signal.tenant, "incident_id": int(incident_id), "kind": kind,
            "payload": json.dumps(payload, ensure_ascii=False, default=str), "status": PENDING, "due_at": due,
            "attempts": 0, "created_at": now}


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notices inside the caller's transaction; a key already there is left as it is."""
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(insert(_TABLE).on_conflict_do_nothing(index_elements=["key"]), list(rows))


def _claimable(now: datetime) -> Any:
    return or_(_TABLE.c.status == PENDING, and_(_TABLE.c.status == PROCESSING, _TABLE.c.lease_until < now))


def _returning(stmt: Any) -> Any:
    t = _TABLE.c
    return stmt.returning(t.id, t.key, t.tenant, t.incident_id, t.kind, t.payload, t.attempts)


def _notice(row: Any) -> Notice:
    return Notice(int(row[0]), str(row[1]), str(row[2]), int(row[3]), str(row[4]), json.loads(row[5]), int(row[6]))


def claim(engine: Engine, worker: str, limit: int, lease_seconds: float, now: datetime | None = None) -> list[Notice]:
    """Take up to `limit` due notices, plus every waiting repeat of the same incidents (they share one reply)."""
    now = now or utcnow()
    pg = engine.dialect.name == "postgresql"
    lease = {"status": PROCESSING, "claimed_by": worker, "lease_until": now + timedelta(seconds=lease_seconds),
             "attempts": _TABLE.c.attempts + 1}
    due = select(_TABLE.c.id).where(_claimable(now), _TABLE.c.due_at <= now).order_by(_TABLE.c.due_at, _TABLE.c.id)
    due = due.limit(limit)
    if pg:
        due = due.with_for_update(skip_locked=True)
    picked = due.cte("picked")
    if pg:
        picked = picked.prefix_with("MATERIALIZED")
    with engine.begin() as conn:
        rows = conn.execute(_returning(update(_TABLE).where(_TABLE.c.id.in_(select(picked.c.id)), _claimable(now))
                                       .values(**lease))).all()
        incidents = {int(r[3]) for r in rows if r[4] == DUPLICATE}
        if incidents:
            waiting = select(_TABLE.c.id).where(_TABLE.c.incident_id.in_(incidents), _TABLE.c.kind == DUPLICATE,
                                                _TABLE.c.status == PENDING)
            if pg:
                waiting = waiting.with_for_update(skip_locked=True)
            rows += conn.execute(_returning(update(_TABLE).where(_TABLE.c.id.in_(waiting.scalar_subquery()),
                                                                 _TABLE.c.status == PENDING).values(**lease))).all()
    return sorted((_notice(r) for r in rows), key=lambda n: n.id)


def finish(engine: Engine, worker: str, ids: Sequence[int], status: str = DONE, note: str | None = None) -> None:
    """Mark claimed notices done (or skipped, with why); a notice another worker took over is left alone."""
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(update(_TABLE).where(_TABLE.c.id.in_(list(ids)), _TABLE.c.claimed_by == worker)
                     .values(status=status, lease_until=None, error=note))


def retry(engine: Engine, worker: str, notices: Sequence[Notice], error: str, now: datetime | None = None) -> None:
    """Give notices back after a failed post: due again after a backoff, failed after MAX_ATTEMPTS."""
    now = now or utcnow()
    with engine.begin() as conn:
        for notice in notices:
            values: dict[str, Any] = {"claimed_by": None, "lease_until": None, "error": error[:2000]}
            if notice.attempts >= MAX_ATTEMPTS:
                values["status"] = FAILED
            else:
                backoff = min(MAX_BACKOFF, 2.0 ** min(notice.attempts, 16))
                values.update(status=PENDING, due_at=now + timedelta(seconds=backoff))
            conn.execute(update(_TABLE).where(_TABLE.c.id == notice.id, _TABLE.c.claimed_by == worker).values(**values))


def finished_before(before: datetime) -> tuple[Table, ColumnElement[bool]]:
    """The rows `bot/retention.py` may delete: shown, given up or skipped, and created before `before`."""
    return _TABLE, and_(_TABLE.c.status.in_((DONE, FAILED, SKIPPED)), _TABLE.c.created_at < before)


def counts(engine: Engine) -> dict[str, int]:
    """Notices per status (for tests, and to see a stuck outbox)."""
    with engine.connect() as conn:
        rows = conn.execute(select(_TABLE.c.status, func.count()).group_by(_TABLE.c.status)).all()
    return {str(status): int(n) for status, n in rows}


def next_due(engine: Engine) -> datetime | None:
    """When the earliest pending notice is due (None: none pending)."""
    with engine.connect() as conn:
        value = conn.execute(select(func.min(_TABLE.c.due_at)).where(_TABLE.c.status == PENDING)).scalar()
    return as_utc(value) if value is not None else None
