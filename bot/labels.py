"""Labelled incident pairs and per-tenant thresholds: every SQL statement about what people taught dedup.

Functions take an open `Session` and never commit (the caller owns the transaction), like
bot/incidents.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlmodel import Session

from bot import incidents as repo
from bot.models import Incident, PairLabel, SignalRecord, TenantThresholds
from retrieval.dedup import Thresholds, is_human

KINDS = ("human", "machine")


@dataclass(frozen=True)
class Answer:
    """Who answered, and through what: a question's buttons, the card's menu, or the CLI."""

    via: str
    by: str | None = None


def pair_kind(a: Incident, b: Incident) -> str:
    """Which thresholds judged the pair: human when a person's report is in it (retrieval/dedup.is_human)."""
    return "human" if is_human(a.kind, b.kind) else "machine"


def recorded_score(session: Session, a: int, b: int) -> float | None:
    """The pair score dedup computed between the two incidents, if it ever compared them.

    A signal of one that was asked about (candidate) or folded into the other carries it; the
    latest such signal wins.
    """
    row = session.execute(
        select(SignalRecord.score)
        .where(SignalRecord.score.is_not(None),  # type: ignore[union-attr]
               or_((SignalRecord.incident_id == a) & (SignalRecord.candidate_id == b),
                   (SignalRecord.incident_id == b) & (SignalRecord.candidate_id == a)))
        .order_by(SignalRecord.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).scalar()
    return None if row is None else float(row)


def record(session: Session, a: Incident, b: Incident, same: bool, score: float | None, answer: Answer) -> PairLabel:
    """Store the answer for the pair (a, b); an earlier answer for the same pair is replaced."""
    assert a.id is not None and b.id is not None
    first, second = sorted((a.id, b.id))
    label = session.execute(
        select(PairLabel).where(PairLabel.tenant == a.tenant, PairLabel.first_id == first,
                                PairLabel.second_id == second)
    ).scalars().first()
    if label is None:
        label = PairLabel(tenant=a.tenant, first_id=first, second_id=second, kind=pair_kind(a, b), score=score,
                          same=same, via=answer.via, answered_by=answer.by, answered_at=repo.utcnow())
    else:
        label.kind, label.same, label.via, label.answered_by = pair_kind(a, b), same, answer.via, answer.by
        label.score = score if score is not None else label.score
        label.answered_at = repo.utcnow()
    session.add(label)
    session.flush()
    return label


def labels_for(session: Session, tenant: str, kind: str | None = None) -> list[PairLabel]:
    stmt = select(PairLabel).where(PairLabel.tenant == tenant)
    if kind is not None:
        stmt = stmt.where(PairLabel.kind == kind)
    return list(session.execute(stmt.order_by(PairLabel.id)).scalars().all())


def stored_thresholds(session: Session, tenant: str) -> dict[str, Thresholds]:
    rows = session.execute(select(TenantThresholds).where(TenantThresholds.tenant == tenant)).scalars().all()
    return {row.kind: Thresholds(row.duplicate, row.candidate) for row in rows}


def store_thresholds(session: Session, tenant: str, kind: str, thresholds: Thresholds | None, labels: int) -> None:
    """Keep the tenant's thresholds for `kind`; None removes them (the defaults apply again)."""
    row = session.get(TenantThresholds, (tenant, kind))
    if thresholds is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = TenantThresholds(tenant=tenant, kind=kind, duplicate=thresholds.duplicate,
                               candidate=thresholds.candidate, labels=labels, updated_at=repo.utcnow())
    else:
        row.duplicate, row.candidate, row.labels = thresholds.duplicate, thresholds.candidate, labels
        row.updated_at = repo.utcnow()
    session.add(row)
