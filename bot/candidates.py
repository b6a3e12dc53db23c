"""Dedup candidates: what a signal is compared on (`prepare`), which stored signals it meets, and
the tenant history those comparisons read (IDF term counts, how recently an incident was active).

The pure scoring lives in retrieval/dedup.py; this module gathers its inputs from the vector
index and the database for `Intake`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from sqlmodel import Session, col, func, select

from bot import incidents as repo
from bot.models import SignalRecord
from retrieval.cues import content_terms, extract_cues, idf, term_overlap
from retrieval.dedup import Candidate, Evidence, Thresholds, identity_conflict, is_human, pair_score
from retrieval.fingerprint import CHAT_SOURCES, Kind, label_identity, masked_text, signal_kind, text_fingerprint
from retrieval.index import IndexPoint, VectorIndex
from retrieval.masking import clean_chat, template_tokens
from retrieval.signal import Signal

SEARCH_LIMIT = 16
# Reports paraphrase each other, so the true match can sit far down the cosine ranking.
REPORT_SEARCH_LIMIT = 64
# Staleness saturates long before this many reports, so older ones need not be counted.
RECENT_REPORTS = 200
# Masked text kept with each vector for template comparison; longer lines keep their head.
MASKED_CHARS = 4000
# A source is judged a log stream on its most recent signals only (see stream_kinds).
STREAM_WINDOW = 500


class TenantThresholdSource(Protocol):
    def thresholds(self, session: Session, tenant: str, human: bool) -> Thresholds | None: ...


@dataclass(frozen=True)
class DedupPolicy:
    machine: Thresholds
    human: Thresholds
    tenants: TenantThresholdSource | None = None  # thresholds recalibrated per tenant (bot/thresholds.py)

    def for_tenant(self, session: Session, tenant: str, human: bool) -> Thresholds:
        learned = self.tenants.thresholds(session, tenant, human) if self.tenants is not None else None
        return learned or (self.human if human else self.machine)


@dataclass(frozen=True)
class Prepared:
    signal: Signal
    kind: Kind
    masked: str
    fingerprint: str
    identity: str | None
    cues: dict[str, list[str]]
    terms: tuple[str, ...] = ()

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.kind, tuple(template_tokens(self.masked)), self.identity, self.cues, self.terms)

    def payload(self, incident_id: int) -> dict[str, Any]:
        """What is stored with this signal's vector, so later signals can be compared with it."""
        out: dict[str, Any] = {"tenant": self.signal.tenant, "incident_id": incident_id, "kind": self.kind,
                               "identity": self.identity or "", "masked": self.masked[:MASKED_CHARS]}
        if self.cues:
            out["cues"] = self.cues
        if self.terms:
            out["terms"] = list(self.terms)
        return out


def prepare(signal: Signal, kind: Kind | None = None) -> Prepared:
    """The comparison inputs of a signal; `kind` overrides what its text and source suggest."""
    kind = kind or signal_kind(signal.text, signal.labels, signal.source)
    masked = masked_text(signal.text, kind)
    identity = label_identity(signal.labels)
    fingerprint = signal.fingerprint_hint or identity or text_fingerprint(masked, kind)
    if kind == "log":
        return Prepared(signal, kind, masked, fingerprint, identity, {})
    # Reports, and alerts that a report may be compared with, carry the cues a person uses.
    text = clean_chat(signal.text)
    return Prepared(signal, kind, masked, fingerprint, identity, extract_cues(text), tuple(content_terms(text)))


def stream_kinds(session: Session, prepared: list[Prepared]) -> list[Prepared]:
    """Prose from a log stream is still a log event ("The service entered the running state").

    A named source whose recent signals (its last STREAM_WINDOW stored ones and this batch) are
    mostly log lines is a log stream: its prose-looking lines are compared as log templates, never
    on meaning. The window keeps the look constant-time however long the source has been sending.
    """
    streams = {(p.signal.tenant, p.signal.source) for p in prepared if p.kind == "report" and p.signal.source
               and p.signal.source.lower() not in CHAT_SOURCES}
    log_streams: set[tuple[str, str | None]] = set()
    for tenant, source in streams:
        kinds = Counter(p.kind for p in prepared if (p.signal.tenant, p.signal.source) == (tenant, source))
        recent = session.exec(select(SignalRecord.kind).where(
            SignalRecord.tenant == tenant, SignalRecord.source == source)
            .order_by(col(SignalRecord.id).desc()).limit(STREAM_WINDOW)).all()
        kinds.update(str(kind) for kind in recent)
        if kinds["log"] > kinds["report"]:
            log_streams.add((tenant, source))
    return [prepare(p.signal, "log") if p.kind == "report" and (p.signal.tenant, p.signal.source) in log_streams
            else p for p in prepared]


@lru_cache(maxsize=4096)
def _stored_tokens(masked: str) -> tuple[str, ...]:
    # A stored line is compared with every signal whose search finds it: tokenize it once.
    return tuple(template_tokens(masked))


def stored_evidence(payload: dict[str, Any]) -> Evidence:
    """The stored side of a comparison, read back from a vector's payload."""
    return Evidence(str(payload.get("kind", "log")), _stored_tokens(str(payload.get("masked", ""))),
                    payload.get("identity") or None, payload.get("cues") or {}, tuple(payload.get("terms") or ()))


def report_gaps(session: Session, tenant: str, incident_ids: set[int]) -> dict[int, int]:
    """Per incident: how many reports the tenant received since that incident's last signal."""
    if not incident_ids:
        return {}
    last = session.exec(
        select(SignalRecord.incident_id, func.max(SignalRecord.id))
        .where(SignalRecord.tenant == tenant, col(SignalRecord.incident_id).in_(incident_ids))
        .group_by(SignalRecord.incident_id)).all()
    recent = session.exec(
        select(SignalRecord.id).where(SignalRecord.tenant == tenant, SignalRecord.kind == "report")
        .order_by(col(SignalRecord.id).desc()).limit(RECENT_REPORTS)).all()
    ascending = sorted(int(i) for i in recent if i is not None)
    # Every report newer than an incident's last signal is in `recent`, or there are more than
    # RECENT_REPORTS of them and the count saturates there.
    return {int(incident_id): len(ascending) - bisect_right(ascending, int(last_id))
            for incident_id, last_id in last if incident_id is not None and last_id is not None}


PairScore = Callable[[Evidence, Evidence, float, float, int], float]


class CandidateFinder:
    """Scores a signal against the stored ones of its tenant; keeps per-tenant term counts.

    `score` is `retrieval.dedup.pair_score` unless a caller pins another (tests do).
    """

    def __init__(self, index: VectorIndex, policy: DedupPolicy, score: PairScore = pair_score) -> None:
        self.index = index
        self.policy = policy
        self.score = score
        self._term_counts: dict[str, tuple[Counter[str], list[int]]] = {}

    def idf(self, tenant: str) -> Callable[[str], float]:
        """IDF weights over the tenant's reports, counted once from the index and then kept current."""
        if tenant not in self._term_counts:
            counts: Counter[str] = Counter()
            stored = self.index.payloads({"tenant": tenant, "kind": "report"})
            for _, payload in stored:
                counts.update(set(payload.get("terms") or ()))
            self._term_counts[tenant] = (counts, [len(stored)])
        counts, total = self._term_counts[tenant]
        return lambda term: idf(counts[term], total[0])

    def count(self, item: Prepared) -> None:
        """Add a report's terms to its tenant's counts (before it is compared, like the replay)."""
        self.idf(item.signal.tenant)
        if item.kind == "report":
            counts, total = self._term_counts[item.signal.tenant]
            counts.update(set(item.terms))
            total[0] += 1

    def candidates(self, session: Session, item: Prepared, vector: np.ndarray,
                   local: list[IndexPoint]) -> tuple[list[Candidate], Thresholds]:
        tenant = item.signal.tenant
        limit = REPORT_SEARCH_LIMIT if item.kind == "report" else SEARCH_LIMIT
        hits = [(h.score, h.payload) for h in self.index.search(vector, limit, {"tenant": tenant})]
        # Points decided earlier in this batch are not in the index until the batch commits.
        mine = [p for p in local if p.payload["tenant"] == tenant]
        if mine:
            scores = np.stack([p.vector for p in mine]) @ vector
            for k in np.argsort(-scores)[:limit]:
                hits.append((float(scores[k]), mine[k].payload))
        new = item.evidence
        weight = self.idf(tenant)
        gaps = report_gaps(session, tenant, {int(p["incident_id"]) for _, p in hits}) if item.kind == "report" else {}
        best: dict[int, tuple[float, float, bool, str]] = {}
        for cosine, payload in hits:
            old = stored_evidence(payload)
            incident_id = int(payload["incident_id"])
            # Shared rare words only count between a report and what it is compared with (pair_score).
            human_pair = is_human(new.kind, old.kind)
            lexical = term_overlap(new.terms, old.terms, weight) if human_pair and new.terms and old.terms else 0.0
            score = self.score(new, old, cosine, lexical, gaps.get(incident_id, 0))
            # An incident that holds an alert about another entity is barred, whatever else matches.
            conflict = identity_conflict(new, old) or (incident_id in best and best[incident_id][2])
            if incident_id not in best or score > best[incident_id][1]:
                best[incident_id] = (cosine, score, conflict, old.kind)
            elif conflict:
                best[incident_id] = (*best[incident_id][:2], True, best[incident_id][3])
        live = repo.live_incidents(session, tenant, list(best))
        candidates: dict[int, Candidate] = {}
        human = item.kind == "report"
        for origin, (cosine, score, conflict, kind) in best.items():
            incident = live.get(origin)
            if incident is None or incident.id is None:
                continue
            human = human or is_human(item.kind, kind)
            previous = candidates.get(incident.id)
            if previous is None or score > previous.score:
                candidates[incident.id] = Candidate(incident.id, incident.status, cosine, score, conflict)
        return list(candidates.values()), self.policy.for_tenant(session, tenant, human)
