"""Incident state changes a person asks for: acknowledge, resolve, merge, split, and the same/different answers they label."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot import incidents as repo
from bot import labels
from bot.candidates import prepare
from bot.incidents import IncidentNotFound
from bot.labels import Answer
from bot.models import Incident, SignalRecord
from retrieval.index import VectorIndex, point_id
from retrieval.signal import Signal

CLI_MERGE = Answer("cli-merge")
CLI_SPLIT = Answer("cli-split")
TITLE_CHARS = 120


class LifecycleError(ValueError):
    """A state change that cannot be made; the message says why."""


def acknowledge_incident(engine: Engine, incident_id: int, tenant: str | None = None) -> Incident:
    """Mark an open incident acknowledged (idempotent); merged or resolved ones raise LifecycleError."""
    with Session(engine, expire_on_commit=False) as session:
        incident = repo.get_incident(session, incident_id, tenant)
        if incident.merged_into is not None:
            raise LifecycleError(f"INC-{incident_id} was merged into INC-{incident.merged_into}: use that one")
        if incident.status == "resolved":
            raise LifecycleError(f"INC-{incident_id} is already resolved")
        if incident.status != "acknowledged":
            incident.status = "acknowledged"
            incident.acknowledged_at = repo.utcnow()
            session.add(incident)
            session.commit()
        return incident


def resolve_incident(engine: Engine, incident_id: int, tenant: str | None = None) -> Incident:
    with Session(engine, expire_on_commit=False) as session:
        incident = repo.get_incident(session, incident_id, tenant)
        if incident.merged_into is not None:
            raise LifecycleError(f"incident {incident_id} was merged into {incident.merged_into}: resolve that one")
        if incident.status != "resolved":
            repo.resolve(session, incident, repo.utcnow())
        session.commit()
        return incident


def _same_tenant(session: Session, first_id: int, second_id: int, tenant: str | None,
                 verb: str) -> tuple[Incident, Incident]:
    """Both incidents (of `tenant` when given), refused when they belong to different tenants."""
    first = repo.get_incident(session, first_id, tenant)
    second = repo.get_incident(session, second_id, tenant)
    if first.tenant != second.tenant:
        raise LifecycleError(f"incidents of different tenants cannot be {verb}")
    return first, second


def merge_incidents(engine: Engine, source_id: int, target_id: int, tenant: str | None = None,
                    answer: Answer = CLI_MERGE) -> Incident:
    """Fold `source_id` into `target_id`: its signals and occurrences move, and it stops matching.

    The pair is stored as labelled "same" (with the pair score dedup gave it, when it compared them).
    """
    if source_id == target_id:
        raise LifecycleError("an incident cannot be merged into itself")
    with Session(engine, expire_on_commit=False) as session:
        source, target = _same_tenant(session, source_id, target_id, tenant, "merged")
        if source.merged_into is not None:
            raise LifecycleError(f"incident {source_id} was already merged into {source.merged_into}")
        if target.merged_into is not None:
            raise LifecycleError(f"incident {target_id} was merged into {target.merged_into}: merge into that one")
        labels.record(session, source, target, True, labels.recorded_score(session, source_id, target_id), answer)
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


def confirm_distinct(engine: Engine, incident_id: int, other_id: int, answer: Answer,
                     tenant: str | None = None) -> Incident:
    """Record that two incidents are different (a "New incident" answer); nothing else changes."""
    if incident_id == other_id:
        raise LifecycleError("an incident is always the same as itself")
    with Session(engine, expire_on_commit=False) as session:
        incident, other = _same_tenant(session, incident_id, other_id, tenant, "compared")
        labels.record(session, incident, other, False, labels.recorded_score(session, incident_id, other_id), answer)
        session.commit()
        return incident


@dataclass(frozen=True)
class Split:
    """The incident a report was split from, the new incident it opened, and its vector's id."""

    original: Incident
    new: Incident
    signal_id: int
    point_id: str | None


def _signal(record: SignalRecord) -> Signal:
    raw = json.loads(record.raw)
    return Signal(text=str(raw.get("text") or ""), tenant=record.tenant, title=raw.get("title"),
                  service=raw.get("service"), source=record.source, labels=dict(raw.get("labels") or {}),
                  annotations=dict(raw.get("annotations") or {}), severity=raw.get("severity"))


def _title(signal: Signal) -> str:
    if signal.title:
        return signal.title[:300]
    first = next((line.strip() for line in signal.text.splitlines() if line.strip()), signal.text) or "(no text)"
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 3].rstrip() + "..."


def split_last_signal(engine: Engine, incident_id: int, tenant: str | None = None,
                      answer: Answer = CLI_SPLIT) -> Split:
    """Move the incident's latest signal into a new incident, labelled "different" from the original.

    The original loses one occurrence and its first/last seen are re-read from the signals it keeps;
    the new incident opens with that signal's text, time, kind and source, and the original's
    severity and service. It takes the signal's exact key unless an open incident holds it.
    """
    with Session(engine, expire_on_commit=False) as session:
        original = repo.get_incident(session, incident_id, tenant)
        if original.merged_into is not None:
            raise LifecycleError(f"incident {incident_id} was merged into {original.merged_into}: split that one")
        if original.status == "resolved":
            raise LifecycleError(f"incident {incident_id} is resolved: only a live incident can be split")
        rows = session.execute(select(SignalRecord).where(SignalRecord.incident_id == incident_id)
                               .order_by(SignalRecord.id.desc()).limit(2)).scalars().all()  # type: ignore[union-attr]
        if len(rows) < 2:
            raise LifecycleError(f"incident {incident_id} has only one report: there is nothing to split out")
        record = rows[0]
        assert record.id is not None
        signal = _signal(record)
        item = prepare(signal, record.kind)  # type: ignore[arg-type]
        key = item.fingerprint if repo.open_by_key(session, original.tenant, item.fingerprint) is None else None
        seen = repo.as_utc(record.event_time)
        new = Incident(tenant=original.tenant, title=_title(signal), text=signal.text,
                       service=signal.service or original.service, severity=original.severity, status="open",
                       kind=record.kind, source=record.source, fingerprint=item.fingerprint, open_key=key,
                       first_seen=seen, last_seen=seen, runbook=original.runbook)
        stored = repo.insert_incident(session, new)
        if stored is None:  # another writer opened the key meanwhile: the new incident goes without it
            new.open_key = None
            stored = repo.insert_incident(session, new)
        assert stored is not None and stored.id is not None
        record.incident_id = stored.id
        session.add(record)
        session.flush()
        first, last = session.execute(select(func.min(SignalRecord.event_time), func.max(SignalRecord.event_time))
                                      .where(SignalRecord.incident_id == incident_id)).one()
        original.occurrence_count = max(original.occurrence_count - 1, 1)
        original.first_seen, original.last_seen = first, last
        session.add(original)
        score = record.score if record.decision == "duplicate" or record.candidate_id == incident_id else None
        labels.record(session, stored, original, False,
                      score if score is not None else labels.recorded_score(session, stored.id, incident_id), answer)
        session.commit()
        session.refresh(original)
        # The point the signal wrote (stored since 0007; older rows: the key intake used for them).
        point = record.point_id or point_id(original.tenant, item.kind, item.fingerprint, item.masked)
        return Split(original, stored, record.id, point)


def repoint(index: VectorIndex, split: Split) -> bool:
    """Make later matches on the split-out signal's vector find the new incident.

    False when the signal has no vector of its own: a repeat decided on the exact-key fast path is
    never embedded, and its key (not a vector) already leads its repeats to the new incident.
    """
    if split.point_id is None or split.new.id is None:
        return False
    try:
        index.set_payload([split.point_id], {"incident_id": split.new.id})
    except Exception as exc:  # the stores report a missing point with their own exception types
        if "no point" in str(exc).lower() or "not found" in str(exc).lower():
            return False
        raise
    return True


def merge_targets(engine: Engine, incident_id: int, limit: int) -> list[Incident]:
    """The live incidents of `incident_id`'s tenant it could be merged into, most recently seen first."""
    with Session(engine, expire_on_commit=False) as session:
        incident = repo.get_incident(session, incident_id)
        stmt = (select(Incident)
                .where(Incident.tenant == incident.tenant, Incident.id != incident_id,
                       Incident.merged_into.is_(None), Incident.status != "resolved")  # type: ignore[union-attr]
                .order_by(Incident.last_seen.desc(), Incident.id.desc()).limit(limit))  # type: ignore[attr-defined]
        return list(session.execute(stmt).scalars().all())


__all__ = ["Answer", "IncidentNotFound", "LifecycleError", "Split", "confirm_distinct", "merge_incidents",
           "merge_targets", "repoint", "resolve_incident", "split_last_signal"]
