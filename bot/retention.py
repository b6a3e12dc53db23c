"""Retention: deletes finished rows of the work tables (inbox, Slack outbox, escalation timers) once they are old.

Each repository says which of its rows are finished (`finished_before`); this module deletes them
in small batches, each its own transaction, so SQLite's write lock (which webhook acks wait for)
is never held for long. Incidents and signals are the record and are never deleted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Table, delete, select

from bot import escalation_store, inbox
from bot.incidents import utcnow
from bot.slack import outbox

log = logging.getLogger("ballast.retention")
BATCH = 2_000
Finished = Callable[[datetime], tuple[Table, ColumnElement[bool]]]
TABLES: dict[str, Finished] = {"inbox": inbox.finished_before, "slack_outbox": outbox.finished_before,
                               "escalations": escalation_store.finished_before}


def delete_in_batches(engine: Engine, table: Table, where: ColumnElement[bool], batch: int = BATCH) -> int:
    """Delete the rows `where` selects, `batch` at a time; how many were deleted."""
    total = 0
    while True:
        ids = select(table.c.id).where(where).order_by(table.c.id).limit(batch).scalar_subquery()
        with engine.begin() as conn:
            deleted = int(conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount or 0)
        total += deleted
        if deleted < batch:
            return total


def prune(engine: Engine, keep_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete what finished more than `keep_days` days ago, per table; nothing when `keep_days` is 0."""
    if keep_days <= 0:
        return {}
    before = (now or utcnow()) - timedelta(days=keep_days)
    counts = {name: delete_in_batches(engine, *finished(before)) for name, finished in TABLES.items()}
    if any(counts.values()):
        log.info("retention: deleted rows finished before %s: %s", before.isoformat(timespec="seconds"),
                 ", ".join(f"{name} {n}" for name, n in counts.items()))
    return counts
