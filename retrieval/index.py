"""The only module that talks to Qdrant: Qdrant Edge in-process by default, a Qdrant server when configured.

Both stores sit behind `VectorIndex`; callers pass plain ids, vectors and payload dicts and
get `Hit`s back. Filters are equality on payload keys (a list value means any of).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.errors import IndexBusy, RetrievalError

FilterSpec = Mapping[str, str | int | Sequence[str]]
KEYWORD_FIELDS = ("tenant", "kind", "incident_id", "runbook")
_NAMESPACE = uuid.UUID("6f1c1f64-2a57-4d0e-9a39-3f3c3b0f6b6e")


def point_id(*parts: str) -> str:
    """A stable point id (uuid5 of the key), so a retried write never inserts twice."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class IndexStats:
    points: int
    indexed: int  # vectors inside an HNSW graph; the rest are searched by a full scan
    segments: int


@dataclass(frozen=True)
class IndexPoint:
    id: str
    vector: np.ndarray
    payload: dict[str, Any]


class VectorIndex(Protocol):
    def upsert(self, points: Sequence[IndexPoint]) -> None: ...
    def search(self, vector: np.ndarray, limit: int, where: FilterSpec | None = None) -> list[Hit]: ...
    def set_payload(self, ids: Sequence[str], payload: Mapping[str, Any]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def delete_where(self, where: FilterSpec) -> None: ...
    def count(self, where: FilterSpec | None = None) -> int: ...
    def payloads(self, where: FilterSpec | None = None) -> list[tuple[str, dict[str, Any]]]: ...
    def missing(self, ids: Sequence[str]) -> list[str]: ...
    def stats(self) -> IndexStats: ...
    def optimize(self) -> bool: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class EdgeIndex:
    """One Qdrant Edge shard (one collection) in a folder of the data dir."""

    def __init__(self, path: Path, dim: int) -> None:
        import qdrant_edge as qe

        self._qe = qe
        path.mkdir(parents=True, exist_ok=True)
        try:
            if any(path.iterdir()):
                self._shard = qe.EdgeShard.load(str(path))
            else:
                config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine))
                self._shard = qe.EdgeShard.create(str(path), config)
                for name in KEYWORD_FIELDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        except Exception as exc:  # the engine reports a held WAL lock as a generic runtime error
            if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                raise IndexBusy(
                    f"the embedded vector index at {path} is in use by another Ballast process "
                    "(is `ballast serve` running on this data dir?). Stop it, use its HTTP API, "
                    "or point BALLAST_QDRANT_URL at a Qdrant server so several processes can share it."
                ) from exc
            raise RetrievalError(f"cannot open the vector index at {path}: {exc}") from exc

    def _filter(self, where: FilterSpec | None) -> Any:
        if not where:
            return None
        qe = self._qe
        must = []
        for key, value in where.items():
            if isinstance(value, (list, tuple)):
                must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(value))))
            else:
                must.append(qe.FieldCondition(key=key, match=qe.MatchValue(value)))
        return qe.Filter(must=must)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if points:
            qe = self._qe
            batch = [qe.Point(p.id, p.vector.tolist(), p.payload) for p in points]
            self._shard.update(qe.UpdateOperation.upsert_points(batch))

    def search(self, vector: np.ndarray, limit: int, where: FilterSpec | None = None) -> list[Hit]:
        qe = self._qe
        request = qe.QueryRequest(
            limit=limit, query=qe.Query.Nearest(vector.tolist()), filter=self._filter(where), with_payload=True
        )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in self._shard.query(request)]

    def set_payload(self, ids: Sequence[str], payload: Mapping[str, Any]) -> None:
        if ids:
            self._shard.update(self._qe.UpdateOperation.set_payload(list(ids), dict(payload)))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._shard.update(self._qe.UpdateOperation.delete_points(list(ids)))

    def delete_where(self, where: FilterSpec) -> None:
        self._shard.update(self._qe.UpdateOperation.delete_points_by_filter(self._filter(where)))

    def count(self, where: FilterSpec | None = None) -> int:
        return int(self._shard.count(self._qe.CountRequest(exact=True, filter=self._filter(where))))

    def payloads(self, where: FilterSpec | None = None) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        offset = None
        while True:
            request = self._qe.ScrollRequest(offset=offset, limit=1000, filter=self._filter(where), with_payload=True)
            records, offset = self._shard.scroll(request)
            out.extend((str(r.id), dict(r.payload or {})) for r in records)
            if offset is None or not records:
                return out

    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids of `ids` that hold no point."""
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            records = self._shard.retrieve(list(ids[start:start + 1000]), False, False)
            found.update(str(r.id) for r in records)
        return [i for i in ids if i not in found]

    def stats(self) -> IndexStats:
        info = self._shard.info()
        return IndexStats(int(info.points_count), int(info.indexed_vectors_count), int(info.segments_count))

    def optimize(self) -> bool:
        """Build the HNSW graph over the stored points (Qdrant's segment optimizers).

        Blocks the calling process until done (the engine holds the GIL): 55 s for 90k points on
        2 idle cores, 5 minutes on busy ones. Run it from a maintenance command, never inside a
        serving process.
        """
        changed = bool(self._shard.optimize())
        self._shard.flush()
        return changed

    def flush(self) -> None:
        self._shard.flush()

    def close(self) -> None:
        self._shard.flush()
        self._shard.close()


class ServerIndex:
    """A collection on a Qdrant server through qdrant-client (`location=":memory:"` or `path=` in tests)."""

    def __init__(self, collection: str, dim: int, *, url: str | None = None, api_key: str | None = None,
                 path: Path | None = None) -> None:
        from qdrant_client import QdrantClient, models

        self._m = models
        self._collection = collection
        if url is not None:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=10)
        elif path is not None:
            self._client = QdrantClient(path=str(path))
        else:
            self._client = QdrantClient(location=":memory:")
        try:
            exists = self._client.collection_exists(collection)
            if not exists:
                self._client.create_collection(
                    collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
                )
                for name in KEYWORD_FIELDS:
                    self._client.create_payload_index(collection, name, models.PayloadSchemaType.KEYWORD)
        except Exception as exc:
            raise RetrievalError(f"cannot reach the Qdrant server at {url or path}: {exc}") from exc

    def _filter(self, where: FilterSpec | None) -> Any:
        if not where:
            return None
        m = self._m
        must = []
        for key, value in where.items():
            match = m.MatchAny(any=list(value)) if isinstance(value, (list, tuple)) else m.MatchValue(value=value)
            must.append(m.FieldCondition(key=key, match=match))
        return m.Filter(must=must)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if points:
            batch = [self._m.PointStruct(id=p.id, vector=p.vector.tolist(), payload=p.payload) for p in points]
            self._client.upsert(self._collection, batch, wait=True)

    def search(self, vector: np.ndarray, limit: int, where: FilterSpec | None = None) -> list[Hit]:
        result = self._client.query_points(
            self._collection, query=vector.tolist(), limit=limit, query_filter=self._filter(where), with_payload=True
        )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in result.points]

    def set_payload(self, ids: Sequence[str], payload: Mapping[str, Any]) -> None:
        if ids:
            self._client.set_payload(self._collection, payload=dict(payload), points=list(ids), wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._client.delete(self._collection, points_selector=self._m.PointIdsList(points=list(ids)), wait=True)

    def delete_where(self, where: FilterSpec) -> None:
        selector = self._m.FilterSelector(filter=self._filter(where))
        self._client.delete(self._collection, points_selector=selector, wait=True)

    def count(self, where: FilterSpec | None = None) -> int:
        return int(self._client.count(self._collection, count_filter=self._filter(where), exact=True).count)

    def payloads(self, where: FilterSpec | None = None) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        offset = None
        while True:
            records, offset = self._client.scroll(
                self._collection, scroll_filter=self._filter(where), limit=1000, offset=offset, with_payload=True
            )
            out.extend((str(r.id), dict(r.payload or {})) for r in records)
            if offset is None or not records:
                return out

    def missing(self, ids: Sequence[str]) -> list[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            records = self._client.retrieve(self._collection, list(ids[start:start + 1000]),
                                            with_payload=False, with_vectors=False)
            found.update(str(r.id) for r in records)
        return [i for i in ids if i not in found]

    def stats(self) -> IndexStats:
        info = self._client.get_collection(self._collection)
        return IndexStats(int(info.points_count or 0), int(info.indexed_vectors_count or 0),
                          int(info.segments_count or 0))

    def optimize(self) -> bool:
        """A Qdrant server builds its HNSW graphs itself, in the background: nothing to do here."""
        return False

    def flush(self) -> None:
        """Server writes are acknowledged with wait=True; nothing is buffered here."""

    def close(self) -> None:
        self._client.close()


def open_index(collection: str, dim: int, *, home: Path, url: str | None = None,
               api_key: str | None = None) -> VectorIndex:
    """The configured store: a Qdrant server when `url` is set, else Qdrant Edge under `home`."""
    if url:
        return ServerIndex(collection, dim, url=url, api_key=api_key)
    return EdgeIndex(home / "qdrant" / collection, dim)
