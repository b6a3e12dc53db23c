"""Vector-index repair: stored signals whose point the index lacks are re-embedded and written again.

Intake commits a batch to the database first and writes its vectors to the index after, so a
crash in between leaves signals (and incidents) that later signals cannot find by similarity.
Each signal row names the point it wrote (`point_id`); a repair asks the index which of those
are missing and rebuilds them from the stored raw signal: same masking, same payload, same point
id, so a repair that races a live writer only rewrites identical points.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.candidates import prepare
from bot.models import SignalRecord
from retrieval.embedder import Embedder
from retrieval.fingerprint import Kind
from retrieval.index import IndexPoint, VectorIndex
from retrieval.signal import Signal

# A crash loses at most the batches in flight; checking the newest rows on start covers them.
RECENT_SIGNALS = 2000


@dataclass(frozen=True)
class RepairReport:
    checked: int  # distinct points the stored signals name
    restored: int  # of those, missing from the index and written again

    def to_json(self) -> dict[str, int]:
        return {"checked": self.checked, "restored": self.restored}


def repair_index(engine: Engine, index: VectorIndex, embedder: Embedder,
                 recent: int | None = RECENT_SIGNALS) -> RepairReport:
    """Restore the points of the newest `recent` signals that wrote one (all of them when None)."""
    stmt = (select(SignalRecord.point_id, SignalRecord.tenant, SignalRecord.kind, SignalRecord.source,
                   SignalRecord.raw, SignalRecord.incident_id)
            .where(SignalRecord.point_id.is_not(None))  # type: ignore[union-attr]
            .order_by(SignalRecord.id.desc()))  # type: ignore[union-attr]
    if recent is not None:
        stmt = stmt.limit(recent)
    with Session(engine) as session:
        rows = session.execute(stmt).all()
    # Newest first: a point id written again later (a regression of the same text) carries the
    # payload of its latest writer, as it does in the index.
    latest: dict[str, tuple[str, str, str | None, str, int]] = {}
    for point_id, tenant, kind, source, raw, incident_id in rows:
        if point_id not in latest and incident_id is not None:
            latest[point_id] = (tenant, kind, source, raw, int(incident_id))
    missing = index.missing(list(latest))
    if not missing:
        return RepairReport(len(latest), 0)
    prepared = []
    for point_id in missing:
        tenant, kind, source, raw, incident_id = latest[point_id]
        fields = json.loads(raw)
        labels = fields.get("labels") if isinstance(fields.get("labels"), dict) else {}
        signal = Signal(text=str(fields.get("text") or ""), tenant=tenant, source=source,
                        labels={str(k): str(v) for k, v in labels.items()})
        prepared.append((point_id, prepare(signal, _kind(kind)), incident_id))
    vectors = embedder.embed([p.masked for _, p, _ in prepared])
    index.upsert([IndexPoint(point_id, vector, item.payload(incident_id))
                  for (point_id, item, incident_id), vector in zip(prepared, vectors, strict=True)])
    index.flush()
    return RepairReport(len(latest), len(missing))


def _kind(value: str) -> Kind:
    if value in ("log", "alert", "report"):
        return value  # type: ignore[return-value]
    raise ValueError(f"stored signal has unknown kind {value!r}")
