"""The one intake path: signals in, incidents out (exact fingerprint first, then vector similarity).

Every entry point (CLI, webhooks, Slack) hands `Intake.process` a batch of signals. The batch is
decided in order, stored in one transaction, and only then written to the vector index, so the
database stays the source of truth and a crash never leaves an acknowledged signal unstored.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import incidents as repo
from bot.candidates import (MASKED_CHARS, REPORT_SEARCH_LIMIT, SEARCH_LIMIT, CandidateFinder, DedupPolicy,
                            Prepared, prepare, stream_kinds)
from bot.models import Incident, SignalRecord
from bot.repeats import FoldedKeys, Key, KnownKey, RepeatWriter, known_keys
from retrieval.dedup import OPEN_STATUSES, Decision, Evidence, classify, pair_score, raised_severity
from retrieval.embedder import Embedder
from retrieval.fingerprint import digest
from retrieval.index import IndexPoint, VectorIndex, point_id
from retrieval.masking import clean_chat
from retrieval.signal import Signal

# Re-exported: callers and benches import these from here.
__all__ = ["MASKED_CHARS", "REPORT_SEARCH_LIMIT", "SEARCH_LIMIT", "DedupPolicy", "IngestResult", "Intake",
           "Prepared", "prepare"]
# A batch that loses a race on a unique key is decided again from the winner's rows.
MAX_ATTEMPTS = 3


class _Unmatched(Enum):
    """No runbook search has been made for the signal yet (None means one was made and found nothing)."""

    TOKEN = 0


UNMATCHED = _Unmatched.TOKEN
FLUSH_EVERY = 5.0  # seconds between flushes of the vector index
FLUSH_POINTS = 1000  # or after this many points, whichever comes first (below RECENT_SIGNALS)
_SEVERITIES = {"critical": "critical", "page": "critical", "high": "critical", "error": "critical",
               "warning": "warning", "warn": "warning", "medium": "warning", "info": "info", "low": "info",
               "none": "info"}


class RunbookMatcher(Protocol):
    def best_runbook(self, text: str, title: str | None, labels: dict[str, str],
                     annotations: dict[str, str], key: str | None = None) -> str | None: ...

    def best_runbooks(self, signals: Sequence[tuple[str, str | None, dict[str, str], dict[str, str]]],
                      keys: Sequence[str | None] | None = None) -> list[str | None]: ...


@dataclass(frozen=True)
class IngestResult:
    id: Any
    decision: str
    incident_id: int | None = None
    similarity: float | None = None
    runbook: str | None = None
    candidate: int | None = None
    error: str | None = None
    truncated: bool = False
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        similarity = None if self.similarity is None else round(float(self.similarity), 4)
        out: dict[str, Any] = {"id": self.id, "incident_id": self.incident_id, "decision": self.decision,
                               "similarity": similarity, "runbook": self.runbook}
        for key in ("candidate", "error"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.truncated:
            out["truncated"] = True
        if self.replayed:
            out["replayed"] = True
        return out


def _pair_score(new: Evidence, old: Evidence, cosine: float, lexical: float, gap: int) -> float:
    # Looked up on each call, so a test can pin `bot.intake.pair_score`.
    return pair_score(new, old, cosine, lexical, gap)


def _runbook_key(item: Prepared) -> str:
    """Signals that differ only in hosts, ids and values get one runbook match (see `_match_runbooks`)."""
    return f"{item.signal.title or ''}\n{item.masked}"


def _severity(signal: Signal) -> str:
    raw = (signal.severity or signal.labels.get("severity") or "warning").lower()
    return _SEVERITIES.get(raw, "warning")


def _title(signal: Signal) -> str:
    if signal.title:
        return signal.title[:300]
    first = next((line.strip() for line in clean_chat(signal.text).splitlines() if line.strip()), signal.text)
    return first if len(first) <= 120 else first[:117].rstrip() + "..."


def _service(signal: Signal) -> str | None:
    return signal.service or signal.labels.get("service") or signal.labels.get("job") or None


class Intake:
    """Decides and stores batches of signals for every tenant."""

    def __init__(self, engine: Engine, index: VectorIndex, embedder: Embedder, policy: DedupPolicy,
                 runbooks: RunbookMatcher | None = None, embed_ahead: bool = False) -> None:
        self.engine = engine
        self.index = index
        self.embedder = embedder
        self.policy = policy
        self.runbooks = runbooks
        self._tenants: set[str] = set()
        self._finder = CandidateFinder(index, policy, _pair_score)
        self._folded = FoldedKeys()
        self._flushed = 0.0
        self._unflushed = 0
        # Keys an open incident held lately: only the read-ahead uses them (to skip their texts).
        self._recent = RecentKeys() if embed_ahead else None
        self._ahead: dict[int, Prepared] = {}

    def prefetch(self, items: Sequence[Signal]) -> None:
        """Start embedding, in the background, what `process(items)` will need (call it with the next batch).

        Only a guess (keys seen open recently are skipped): `process` decides from the database
        as always, and a vector computed here is merely found in the embedder's cache.
        """
        prepared = [prepare(s) for s in items]
        self._ahead = {id(p.signal): p for p in prepared}
        self._embed_ahead(prepared)

    def _embed_ahead(self, prepared: Sequence[Prepared]) -> None:
        ahead = getattr(self.embedder, "prefetch", None)
        if ahead is not None and self._recent is not None:
            texts = [p.masked for p in prepared if (p.signal.tenant, p.fingerprint) not in self._recent]
            if texts:
                ahead(texts)

    def process(self, items: Sequence[Signal], ids: Sequence[Any]) -> list[IngestResult]:
        """Decide and store `items` in order (each sees all before it); `ids` are echoed back."""
        ahead, self._ahead = self._ahead, {}
        prepared = [p if (p := ahead.get(id(s))) is not None and p.signal is s else prepare(s) for s in items]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                results, local = self._decide_and_store(prepared, ids)
                break
            except IntegrityError:
                # Another writer stored one of these signals first (a retried delivery racing its
                # original). Nothing of this batch was kept; the next attempt reads their rows and
                # answers those signals as replays.
                if attempt == MAX_ATTEMPTS:
                    raise
        if local:
            self.index.upsert(local)
            self._unflushed += len(local)
            # The database is the record; a flush costs several fsyncs (hundreds of ms on a busy
            # disk), so the index is flushed every few seconds or points (and on close). Points a
            # crash loses before their flush are written again by the repair on the next start,
            # which checks more than FLUSH_POINTS of the newest signals.
            if self._unflushed >= FLUSH_POINTS or time.monotonic() - self._flushed >= FLUSH_EVERY:
                self.index.flush()
                self._flushed = time.monotonic()
                self._unflushed = 0
        return results

    def _decide_and_store(self, prepared: list[Prepared],
                          ids: Sequence[Any]) -> tuple[list[IngestResult], list[IndexPoint]]:
        idem = [self._idempotency_key(p.signal) for p in prepared]
        repo.ensure_tenants(self.engine, (p.signal.tenant for p in prepared), self._tenants)
        with Session(self.engine, expire_on_commit=False) as session:
            prepared = stream_kinds(session, prepared)
            stored = self._already_stored(session, prepared, idem)
            known = known_keys(session, ((p.signal.tenant, p.fingerprint) for p in prepared), self._folded)
            if self._recent is not None:
                self._recent.update(known)
            # The slow steps (model, runbook search) run before the batch's first write: on SQLite
            # that write takes the database's one write lock, which webhook acks wait for.
            vectors = self._vectors(prepared, known)
            runbooks = self._match_runbooks(prepared, vectors)
            writer = RepeatWriter()
            local: list[IndexPoint] = []
            results: list[IngestResult] = []
            for i, item in enumerate(prepared):
                if idem[i] is not None and idem[i] in stored:
                    results.append(self._replay(ids[i], stored[idem[i]]))
                    continue
                if idem[i] is not None:
                    stored[idem[i]] = None  # a repeat later in this batch is a replay, not a new signal
                key = (item.signal.tenant, item.fingerprint)
                hit = known.get(key)
                if hit is not None and item.signal.status == "firing":
                    results.append(self._repeat(item, hit, idem[i], ids[i], writer))
                    continue
                if item.kind == "report":
                    writer.flush(session)  # report scoring counts the signals stored since each incident's last
                result, point, incident = self._decide_one(session, item, vectors.get(i), idem[i], ids[i], local,
                                                           writer, runbooks.get(i, UNMATCHED))
                self._learn(known, key, result, incident)
                if point is not None:
                    local.append(point)
                results.append(result)
            writer.flush(session)
            session.commit()
        return results, local

    def _repeat(self, item: Prepared, hit: KnownKey, idem: str | None, given_id: Any,
                writer: RepeatWriter) -> IngestResult:
        now = repo.utcnow()
        seen = item.signal.time or now
        self._finder.count(item)
        decision = Decision("duplicate", hit.incident_id, hit.similarity)
        writer.add(hit.incident_id, seen, _signal_row(item, hit.incident_id, decision, idem, now, seen))
        return IngestResult(given_id, "duplicate", hit.incident_id, hit.similarity, hit.runbook,
                            truncated=item.signal.truncated)

    def _learn(self, known: dict[Key, KnownKey], key: Key, result: IngestResult, incident: Incident) -> None:
        """Keep the batch's key map current after a slow-path decision, and remember folds."""
        for other in [k for k, v in known.items() if v.incident_id == incident.id]:
            if incident.status not in OPEN_STATUSES:
                del known[other]
        if incident.status not in OPEN_STATUSES or incident.id is None:
            return
        if self._recent is not None:
            self._recent.update((key,))
        similarity = 1.0 if result.similarity is None else float(result.similarity)
        if result.decision == "duplicate":
            known[key] = KnownKey(incident.id, incident.runbook, similarity)
            self._folded.remember(key, incident.id, similarity)
        elif incident.open_key == key[1]:
            known[key] = KnownKey(incident.id, incident.runbook, 1.0)

    # -- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _idempotency_key(signal: Signal) -> str | None:
        if signal.external_id is None:
            return None
        return digest("signal", signal.tenant, signal.source or "", signal.external_id, signal.text)

    def _already_stored(self, session: Session, prepared: list[Prepared],
                        idem: list[str | None]) -> dict[str, SignalRecord | None]:
        found: dict[str, SignalRecord | None] = {}
        by_tenant: dict[str, list[str]] = {}
        for p, key in zip(prepared, idem, strict=True):
            if key is not None:
                by_tenant.setdefault(p.signal.tenant, []).append(key)
        for tenant, keys in by_tenant.items():
            found.update(repo.signal_by_idempotency(session, tenant, keys))
        return found

    def _vectors(self, prepared: list[Prepared], known: dict[Key, KnownKey]) -> dict[int, np.ndarray]:
        """Embed, in one call, the signals whose key no open incident holds (first of each key only);
        texts the read-ahead already started are waited for, not computed again."""
        need: dict[int, str] = {}
        seen_keys: set[Key] = set(known)
        for i, p in enumerate(prepared):
            key = (p.signal.tenant, p.fingerprint)
            if key not in seen_keys:
                seen_keys.add(key)
                need[i] = p.masked
        if not need:
            return {}
        rows = self.embedder.embed(list(need.values()))
        return dict(zip(need, rows, strict=True))

    def _match_runbooks(self, prepared: list[Prepared], indices: Iterable[int]) -> dict[int, str | None]:
        """The best runbook of each signal that may open an incident (those a vector is computed for)."""
        if self.runbooks is None:
            return {}
        chosen = list(indices)
        signals = [prepared[i].signal for i in chosen]
        # Keyed by masked text: one alert on many hosts is ranked once (RunbookLibrary.best_runbooks).
        found = self.runbooks.best_runbooks([(s.text, s.title, s.labels, s.annotations) for s in signals],
                                            [_runbook_key(prepared[i]) for i in chosen])
        return dict(zip(chosen, found, strict=True))

    def _best_runbook(self, item: Prepared) -> str | None:
        if self.runbooks is None:
            return None
        signal = item.signal
        return self.runbooks.best_runbook(signal.text, signal.title, signal.labels, signal.annotations,
                                          _runbook_key(item))

    def _replay(self, given_id: Any, record: SignalRecord | None) -> IngestResult:
        if record is None:
            return IngestResult(given_id, "rejected", error="repeated id: this signal appears twice in the input")
        return IngestResult(given_id, record.decision, record.incident_id, record.similarity,
                            candidate=record.candidate_id, replayed=True)

    def _decide_one(self, session: Session, item: Prepared, vector: np.ndarray | None, idem: str | None,
                    given_id: Any, local: list[IndexPoint],
                    writer: RepeatWriter, runbook: str | None | _Unmatched = UNMATCHED) -> tuple[IngestResult, IndexPoint | None, Incident]:
        signal = item.signal
        now = repo.utcnow()
        seen = signal.time or now
        tenant = signal.tenant
        self._finder.count(item)
        # A firing signal gets here only when no open incident held its key at the start of the
        # batch nor since (those are repeats), so only a resolve needs the lookup. An incident a
        # concurrent writer opens meanwhile is caught by the unique key when this one is inserted.
        incident = repo.open_by_key(session, tenant, item.fingerprint) if signal.status != "firing" else None
        decision: Decision
        if incident is not None:
            decision = Decision("duplicate", incident.id, 1.0)
        else:
            previous = repo.last_resolved_by_fingerprint(session, tenant, item.fingerprint)
            if previous is not None:
                decision = Decision("regression", previous.id, 1.0)
            else:
                if vector is None:
                    vector = self.embedder.embed([item.masked])[0]
                candidates, thresholds = self._finder.candidates(session, item, vector, local)
                decision = classify(candidates, thresholds)

        if decision.decision == "duplicate" and decision.incident_id is not None:
            incident = repo.get_incident(session, decision.incident_id)
            repo.bump(session, incident, seen)
            if signal.status == "resolved":
                repo.resolve(session, incident, seen)
        else:
            incident = self._open(session, item, seen, decision, runbook)
        point = None
        if vector is not None and incident.id is not None:
            payload = item.payload(incident.id)
            key = [tenant, item.kind, item.fingerprint, item.masked]
            if decision.decision == "regression":
                # Its text may be its resolved incident's own: a point of its own keeps that one findable
                # (as a similar past incident) instead of overwriting it.
                key.append(f"incident:{incident.id}")
            point = IndexPoint(point_id(*key), vector, payload)
        row = _signal_row(item, incident.id, decision, idem, now, seen)
        row["point_id"] = None if point is None else point.id
        writer.add_row(row)  # inserted with the batch's repeats, in one statement
        result = IngestResult(given_id, decision.decision, incident.id, decision.similarity, incident.runbook,
                              decision.candidate, truncated=signal.truncated)
        return result, point, incident

    def _open(self, session: Session, item: Prepared, seen: Any, decision: Decision,
              matched: str | None | _Unmatched = UNMATCHED) -> Incident:
        signal = item.signal
        regression_of = decision.incident_id if decision.decision == "regression" else None
        severity = _severity(signal)
        if regression_of is not None:
            severity = raised_severity(repo.get_incident(session, regression_of).severity)
        runbook = self._best_runbook(item) if isinstance(matched, _Unmatched) else matched
        resolved = signal.status == "resolved"
        incident = Incident(
            tenant=signal.tenant, title=_title(signal), text=signal.text, service=_service(signal),
            severity=severity, status="resolved" if resolved else "open", kind=item.kind, source=signal.source,
            fingerprint=item.fingerprint, open_key=None if resolved else item.fingerprint,
            first_seen=seen, last_seen=seen, resolved_at=seen if resolved else None, runbook=runbook,
            regression_of=regression_of,
        )
        stored = repo.insert_incident(session, incident)
        if stored is not None:
            return stored
        # Another writer opened the same exact key between our read and our insert: fold into it.
        existing = repo.open_by_key(session, signal.tenant, item.fingerprint)
        if existing is None:
            raise RuntimeError("incident insert conflicted but no open incident holds the key")
        repo.bump(session, existing, seen)
        return existing


class RecentKeys:
    """Keys that an open incident held lately: their repeats need no vector, so none is computed ahead."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: OrderedDict[Key, None] = OrderedDict()
        self._capacity = capacity

    def update(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self._keys[key] = None
            self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys


def _signal_row(item: Prepared, incident_id: int | None, decision: Decision, idem: str | None,
                now: datetime, seen: datetime) -> dict[str, Any]:
    """A signal as stored: raw input kept whole, with the decision made for it."""
    signal = item.signal
    raw = {"text": signal.text, "title": signal.title, "service": signal.service, "labels": signal.labels,
           "annotations": signal.annotations, "severity": signal.severity, **signal.extra}
    return {"tenant": signal.tenant, "external_id": signal.external_id, "idempotency_key": idem,
            "source": signal.source, "kind": item.kind, "status": signal.status,
            "raw": json.dumps(raw, ensure_ascii=False, default=str), "masked_hash": digest(item.masked),
            "received_at": now, "event_time": seen, "incident_id": incident_id, "decision": decision.decision,
            "similarity": decision.similarity, "candidate_id": decision.candidate, "score": decision.score,
            "truncated": signal.truncated, "point_id": None}
