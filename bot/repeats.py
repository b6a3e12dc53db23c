"""The exact-repeat fast path: signals whose key an open incident already holds, decided from memory and written in bulk.

Most of a noisy stream repeats keys seen before: an open incident's exact key, or a key that an
earlier signal folded into an incident by similarity. Those repeats need no model, no vector
search and no per-signal queries: one SELECT per batch finds them, and `RepeatWriter` adds their
occurrences with one UPDATE per incident (executemany) and their signal rows with one INSERT.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from bot.incidents import add_occurrences
from bot.models import Incident, SignalRecord
from retrieval.dedup import OPEN_STATUSES

Key = tuple[str, str]  # (tenant, exact fingerprint)


@dataclass(frozen=True)
class KnownKey:
    """An open incident that a key belongs to, and the similarity it was folded with."""

    incident_id: int
    runbook: str | None
    similarity: float


class FoldedKeys:
    """Keys folded into an incident by similarity, remembered so their repeats skip the vector search.

    Bounded (least recently used goes first) and checked against the database on every batch,
    so a resolved or merged incident is never answered from memory.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: OrderedDict[Key, tuple[int, float]] = OrderedDict()
        self._capacity = capacity

    def remember(self, key: Key, incident_id: int, similarity: float) -> None:
        self._keys[key] = (incident_id, similarity)
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def get(self, key: Key) -> tuple[int, float] | None:
        return self._keys.get(key)


def known_keys(session: Session, keys: Iterable[Key], folded: FoldedKeys) -> dict[Key, KnownKey]:
    """The keys of a batch that an open incident holds: its own exact key, or a remembered fold."""
    by_tenant: dict[str, set[str]] = {}
    for tenant, key in keys:
        by_tenant.setdefault(tenant, set()).add(key)
    found: dict[Key, KnownKey] = {}
    for tenant, wanted in by_tenant.items():
        rows = session.execute(
            select(Incident.open_key, Incident.id, Incident.runbook)
            .where(Incident.tenant == tenant, Incident.open_key.in_(wanted))  # type: ignore[union-attr]
        ).all()
        for open_key, incident_id, runbook in rows:
            found[(tenant, open_key)] = KnownKey(incident_id, runbook, 1.0)
    remembered = {key: hit for key in ((t, k) for t, ks in by_tenant.items() for k in ks)
                  if key not in found and (hit := folded.get(key)) is not None}
    if remembered:
        ids = {incident_id for incident_id, _ in remembered.values()}
        rows = session.execute(
            select(Incident.id, Incident.status, Incident.merged_into, Incident.runbook)
            .where(Incident.id.in_(ids))  # type: ignore[union-attr]
        ).all()
        live = {i: runbook for i, status, merged, runbook in rows if status in OPEN_STATUSES and merged is None}
        for key, (incident_id, similarity) in remembered.items():
            if incident_id in live:
                found[key] = KnownKey(incident_id, live[incident_id], similarity)
    return found


class RepeatWriter:
    """Buffers repeats' occurrence counts and signal rows; `flush` writes them in the caller's transaction."""

    def __init__(self) -> None:
        self._bumps: dict[int, tuple[int, datetime]] = {}
        self._rows: list[dict[str, Any]] = []

    def add_row(self, row: dict[str, Any]) -> None:
        """A signal row whose incident was already updated (decided on the slow path)."""
        self._rows.append(row)

    def add(self, incident_id: int, seen: datetime, row: dict[str, Any]) -> None:
        count, latest = self._bumps.get(incident_id, (0, seen))
        self._bumps[incident_id] = (count + 1, max(latest, seen))
        self._rows.append(row)

    def flush(self, session: Session) -> None:
        """Write what is buffered (before any other read of these incidents, and before commit)."""
        add_occurrences(session, self._bumps)
        self._bumps.clear()
        if self._rows:
            session.execute(insert(SignalRecord), self._rows)
            self._rows.clear()
