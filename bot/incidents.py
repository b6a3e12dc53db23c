"""Incident and signal repository: every SQL statement of the incident lifecycle lives here.

Functions take an open `Session` and never commit: the caller owns the transaction, so one
batch of signals is stored all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.models import Incident, SignalRecord, Tenant


class IncidentNotFound(LookupError):
    """No incident with that id in that tenant."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ensure_tenants(engine: Engine, tenants: Iterable[str], known: set[str]) -> None:
    """Create tenant rows not seen before, committed on their own before any row refers to them.

    `known` is shared by every writer of the process, so a tenant enters it only once its row is
    committed: a writer that skips the insert never depends on another writer's open transaction.
    A concurrent creator is fine (the conflict is ignored).
    """
    missing = set(tenants) - known
    if not missing:
        return
    with Session(engine) as session:
        for tenant in sorted(missing):
            if session.get(Tenant, tenant) is None:
                try:
                    with session.begin_nested():
                        session.add(Tenant(id=tenant, created_at=utcnow()))
                except IntegrityError:
                    pass
        session.commit()
    known.update(missing)


def open_by_key(session: Session, tenant: str, key: str) -> Incident | None:
    return session.exec(  # type: ignore[call-overload]
        select(Incident).where(Incident.tenant == tenant, Incident.open_key == key)
    ).scalars().first()


def last_resolved_by_fingerprint(session: Session, tenant: str, fingerprint: str) -> Incident | None:
    stmt = (
        select(Incident)
        .where(Incident.tenant == tenant, Incident.fingerprint == fingerprint, Incident.status == "resolved",
               Incident.merged_into.is_(None))  # type: ignore[union-attr]
        .order_by(Incident.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    return session.exec(stmt).scalars().first()  # type: ignore[call-overload]


def live_incidents(session: Session, tenant: str, ids: Sequence[int]) -> dict[int, Incident]:
    """The incidents behind `ids`, each replaced by the incident it was merged into."""
    found: dict[int, Incident] = {}
    pending = {i: i for i in ids}
    for _ in range(8):  # merge chains are short; the bound guards against a cycle
        if not pending:
            break
        # By primary key only, tenant checked here: with `tenant = ?` in the WHERE clause SQLite
        # plans on the (tenant, status) index and scans the tenant's rows (22 ms at 100k incidents).
        rows = session.exec(  # type: ignore[call-overload]
            select(Incident).where(Incident.id.in_(set(pending.values())))  # type: ignore[union-attr]
        ).scalars().all()
        by_id = {row.id: row for row in rows if row.tenant == tenant}
        next_pending: dict[int, int] = {}
        for origin, current in pending.items():
            row = by_id.get(current)
            if row is None:
                continue
            if row.merged_into is not None:
                next_pending[origin] = row.merged_into
            else:
                found[origin] = row
        pending = next_pending
    return found


def insert_incident(session: Session, incident: Incident) -> Incident | None:
    """Insert; None when another writer opened the same exact key first (the caller re-reads)."""
    try:
        with session.begin_nested():
            session.add(incident)
            session.flush()
    except IntegrityError:
        if incident.open_key is None or open_by_key(session, incident.tenant, incident.open_key) is None:
            raise  # not the open-key race: the caller's whole batch is retried
        return None
    return incident


_table = Incident.__table__  # type: ignore[attr-defined]
_SEEN = bindparam("b_seen", type_=_table.c.last_seen.type)
# Occurrences added in SQL, so concurrent writers never lose an increment; last_seen only moves forward.
_ADD_OCCURRENCES = (
    _table.update()
    .where(_table.c.id == bindparam("b_id"))
    .values(occurrence_count=_table.c.occurrence_count + bindparam("b_count"),
            last_seen=case((_table.c.last_seen < _SEEN, _SEEN), else_=_table.c.last_seen))
)


def add_occurrences(session: Session, occurrences: Mapping[int, tuple[int, datetime]]) -> None:
    """Per incident id: add `count` occurrences, the latest seen at `seen` (one executemany)."""
    if occurrences:
        params = [{"b_id": i, "b_count": n, "b_seen": seen} for i, (n, seen) in occurrences.items()]
        session.connection().execute(_ADD_OCCURRENCES, params)


def bump(session: Session, incident: Incident, seen: datetime) -> None:
    """One more occurrence of `incident`, and its row re-read."""
    assert incident.id is not None
    add_occurrences(session, {incident.id: (1, seen)})
    session.refresh(incident)


def resolve(session: Session, incident: Incident, when: datetime) -> None:
    incident.status = "resolved"
    incident.resolved_at = when
    incident.open_key = None
    session.add(incident)
    session.flush()


def signal_by_idempotency(session: Session, tenant: str, keys: Sequence[str]) -> dict[str, SignalRecord]:
    if not keys:
        return {}
    rows = session.exec(  # type: ignore[call-overload]
        select(SignalRecord).where(SignalRecord.tenant == tenant, SignalRecord.idempotency_key.in_(keys))  # type: ignore[union-attr]
    ).scalars().all()
    return {row.idempotency_key: row for row in rows if row.idempotency_key}


def get_incident(session: Session, incident_id: int, tenant: str | None = None) -> Incident:
    row = session.get(Incident, incident_id)
    if row is None or (tenant is not None and row.tenant != tenant):
        raise IncidentNotFound(f"no incident {incident_id}" + (f" in tenant {tenant!r}" if tenant else ""))
    return row


def list_incidents(session: Session, tenant: str | None = None, status: str | None = None,
                   limit: int = 100) -> list[Incident]:
    stmt = select(Incident).where(Incident.merged_into.is_(None))  # type: ignore[union-attr]
    if tenant is not None:
        stmt = stmt.where(Incident.tenant == tenant)
    if status is not None:
        stmt = stmt.where(Incident.status == status)
    stmt = stmt.order_by(Incident.last_seen.desc(), Incident.id.desc()).limit(limit)  # type: ignore[attr-defined]
    return list(session.exec(stmt).scalars().all())  # type: ignore[call-overload]


def move_signals(session: Session, source_id: int, target_id: int) -> int:
    result = session.execute(
        update(SignalRecord).where(SignalRecord.incident_id == source_id).values(incident_id=target_id)  # type: ignore[arg-type]
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def incident_json(incident: Incident) -> dict[str, Any]:
    """An incident as CONTRACT.md prints it."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")

    return {
        "id": incident.id,
        "tenant": incident.tenant,
        "title": incident.title,
        "service": incident.service,
        "severity": incident.severity,
        "status": incident.status,
        "occurrence_count": incident.occurrence_count,
        "first_seen": iso(incident.first_seen),
        "last_seen": iso(incident.last_seen),
        "resolved_at": iso(incident.resolved_at),
        "runbook": incident.runbook,
        "regression_of": incident.regression_of,
        "kind": incident.kind,
        "source": incident.source,
    }
