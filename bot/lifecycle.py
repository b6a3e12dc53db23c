"""Incident state changes a person asks for: resolve, acknowledge and merge."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot import incidents as repo
from bot.incidents import IncidentNotFound
from bot.models import Incident


class LifecycleError(ValueError):
    """A state change that cannot be made; the message says why."""


def resolve_incident(engine: Engine, incident_id: int, tenant: str | None = None) -> Incident:
    with Session(engine, expire_on_commit=False) as session:
        incident = repo.get_incident(session, incident_id, tenant)
        if incident.merged_into is not None:
            raise LifecycleError(f"incident {incident_id} was merged into {incident.merged_into}: resolve that one")
        if incident.status != "resolved":
            repo.resolve(session, incident, repo.utcnow())
        session.commit()
        return incident


def merge_incidents(engine: Engine, source_id: int, target_id: int, tenant: str | None = None) -> Incident:
    """Fold `source_id` into `target_id`: its signals and occurrences move, and it stops matching."""
    if source_id == target_id:
        raise LifecycleError("an incident cannot be merged into itself")
    with Session(engine, expire_on_commit=False) as session:
        source = repo.get_incident(session, source_id, tenant)
        target = repo.get_incident(session, target_id, tenant)
        if source.tenant != target.tenant:
            raise LifecycleError("incidents of different tenants cannot be merged")
        if source.merged_into is not None:
            raise LifecycleError(f"incident {source_id} was already merged into {source.merged_into}")
        if target.merged_into is not None:
            raise LifecycleError(f"incident {target_id} was merged into {target.merged_into}: merge into that one")
        repo.move_signals(session, source_id, target_id)
        target.occurrence_count += source.occurrence_count
        target.first_seen = min(repo.as_utc(target.first_seen), repo.as_utc(source.first_seen))
        target.last_seen = max(repo.as_utc(target.last_seen), repo.as_utc(source.last_seen))
        source.merged_into = target_id
        source.open_key = None
        source.status = "resolved"
        source.resolved_at = source.resolved_at or repo.utcnow()
        session.add(source)
        session.add(target)
        session.commit()
        return target


__all__ = ["IncidentNotFound", "LifecycleError", "merge_incidents", "resolve_incident"]
