"""Dedup decisions: a pure `classify()` over scored candidates and the thresholds of a source kind.

A candidate whose score passes the kind's duplicate threshold decides: an open incident means
duplicate, a resolved one a regression. Between the candidate and duplicate thresholds the
match is uncertain: the signal opens a new incident and names the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DecisionKind = Literal["new", "duplicate", "regression"]
OPEN_STATUSES = frozenset({"open", "acknowledged"})


@dataclass(frozen=True)
class Thresholds:
    duplicate: float
    candidate: float


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    status: str
    similarity: float          # raw cosine of the embeddings
    score: float               # cosine adjusted by cues; what the thresholds apply to
    identity_conflict: bool = False


@dataclass(frozen=True)
class Decision:
    decision: DecisionKind
    incident_id: int | None
    similarity: float | None
    candidate: int | None = None


def classify(candidates: list[Candidate], thresholds: Thresholds) -> Decision:
    """Decide new, duplicate or regression from the best candidate (ties go to open incidents)."""
    if not candidates:
        return Decision("new", None, None)
    best_similarity = max(c.similarity for c in candidates)
    ranked = sorted(candidates, key=lambda c: (c.score, c.status in OPEN_STATUSES), reverse=True)
    eligible = [c for c in ranked if not c.identity_conflict]
    if eligible and eligible[0].score >= thresholds.duplicate:
        best = eligible[0]
        kind: DecisionKind = "duplicate" if best.status in OPEN_STATUSES else "regression"
        return Decision(kind, best.incident_id, best_similarity)
    top = ranked[0]
    if top.score >= thresholds.candidate:
        return Decision("new", None, best_similarity, candidate=top.incident_id)
    return Decision("new", None, best_similarity)


def raised_severity(severity: str) -> str:
    """A regression is one step more severe than the incident it repeats."""
    order = ["info", "warning", "critical"]
    if severity not in order:
        return "critical"
    return order[min(order.index(severity) + 1, len(order) - 1)]
