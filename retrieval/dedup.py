"""Dedup decisions: how alike two signals are (`pair_score`) and a pure `classify()` over candidates.

Log lines of one stream are alike when their masked templates agree position by position (Drain's
rule: a differing word is a parameter). Alerts are keyed by identity or masked text, so a differing
word names another entity. Reports compare meaning: cosine, lexical overlap and cues. A candidate
past the duplicate threshold decides; between candidate and duplicate the match is uncertain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from retrieval.cues import cue_adjustment
from retrieval.masking import differing_tokens, template_alignment, template_similarity

DecisionKind = Literal["new", "duplicate", "regression"]
OPEN_STATUSES = frozenset({"open", "acknowledged"})
# Two texts that share this much of their token sequence are copies of one template (a pasted
# alert, a bot message) rather than two people's words.
COPY_RATIO = 0.6
# Reports about one incident come in bursts: a candidate that has been quiet while this many other
# reports arrived has lost most of its pull (bench/calibrate.py sweeps both numbers).
RECENCY_PENALTY = 0.3
RECENCY_SCALE = 20.0


@dataclass(frozen=True)
class Thresholds:
    duplicate: float
    candidate: float


@dataclass(frozen=True)
class Evidence:
    """What one side of a comparison brings: its kind, masked template tokens, identity and cues."""

    kind: str
    tokens: tuple[str, ...] = ()
    identity: str | None = None
    cues: Mapping[str, list[str]] = field(default_factory=dict)
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    status: str
    similarity: float          # raw cosine of the embeddings
    score: float               # the pair score the thresholds apply to
    identity_conflict: bool = False


@dataclass(frozen=True)
class Decision:
    decision: DecisionKind
    incident_id: int | None
    similarity: float | None
    candidate: int | None = None
    score: float | None = None  # the pair score of the matched incident or the candidate


def is_human(a: str, b: str) -> bool:
    """Pairs with a person's report in them are judged on meaning, with the human thresholds.

    A line of a log stream is never compared with a report on meaning: its incident is its template.
    """
    return "report" in (a, b) and "log" not in (a, b)


def template_score(new: Sequence[str], old: Sequence[str], *, words_are_parameters: bool) -> float:
    """Positional agreement of two masked templates.

    In a log stream every differing token is a parameter of the event (user names, states of one
    message), so the score is Drain's share of equal positions. For alerts a differing word names a
    different entity (namespace, workload, receiver), so only placeholders may differ.
    """
    similarity = template_similarity(list(new), list(old))
    if words_are_parameters or similarity == 0.0:
        return similarity
    return 1.0 if not differing_tokens(list(new), list(old)) else 0.0


def pair_score(new: Evidence, old: Evidence, cosine: float, lexical: float = 0.0, gap: int = 0) -> float:
    """The score the thresholds apply to, for a new signal against one stored one.

    `lexical` is the IDF-weighted term overlap and `gap` the number of reports received since the
    stored side's incident was last active; both only matter for reports.
    """
    if is_human(new.kind, old.kind):
        shared, differs = template_alignment(list(new.tokens), list(old.tokens))
        if shared >= COPY_RATIO and not differs:
            # The same message again with only masked values changed (a count, a time).
            return 1.0
        return report_score(cosine, lexical, cue_adjustment(new.cues, old.cues), gap)
    if "report" in (new.kind, old.kind):
        return 0.0
    logs = new.kind == "log" and old.kind == "log"
    return template_score(new.tokens, old.tokens, words_are_parameters=logs)


def report_score(cosine: float, lexical: float, cues: float, gap: int = 0) -> float:
    """Meaning (cosine) and shared rare words (lexical) averaged, shifted by cues and by staleness."""
    staleness = RECENCY_PENALTY * (1.0 - math.exp(-max(gap, 0) / RECENCY_SCALE))
    return 0.5 * cosine + 0.5 * lexical + cues - staleness


def identity_conflict(new: Evidence, old: Evidence) -> bool:
    """Two alerts about different entities are never the same incident, nor is anything joining them.

    The entity is the label identity when both have one; for alerts keyed by text (pasted or
    forwarded), two copies of one template with a word changed (a region, a day, a namespace).
    """
    if new.identity and old.identity:
        return new.identity != old.identity
    if new.kind == old.kind == "alert" and not (new.identity or old.identity):
        shared, differs = template_alignment(list(new.tokens), list(old.tokens))
        return shared >= COPY_RATIO and differs
    return False


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
        return Decision(kind, best.incident_id, best_similarity, score=best.score)
    top = ranked[0]
    if top.score >= thresholds.candidate:
        return Decision("new", None, best_similarity, candidate=top.incident_id, score=top.score)
    return Decision("new", None, best_similarity)


def raised_severity(severity: str) -> str:
    """A regression is one step more severe than the incident it repeats."""
    order = ["info", "warning", "critical"]
    if severity not in order:
        return "critical"
    return order[min(order.index(severity) + 1, len(order) - 1)]
