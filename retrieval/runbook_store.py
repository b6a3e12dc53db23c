"""Runbook chunks in the vector store: incremental indexing by content hash, reading them back,
and the outcome counts that feed ranking.

One point per chunk (payload: runbook id, title, heading path, text, file hash, alert names), one
summary point per runbook (title, alert names and opening section: the whole runbook in one
vector), and one point per runbook holding outcome counts, kept out of searches by its `kind`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedder import DIM, Embedder
from retrieval.index import IndexPoint, VectorIndex, point_id
from retrieval.runbooks import Runbook, RunbookFileError, alert_names, read_runbook, runbook_files, split_camel

CHUNK_KIND = "runbook_chunk"
SUMMARY_KIND = "runbook_summary"
FEEDBACK_KIND = "runbook_feedback"
EMBED_BATCH = 64
# MiniLM was trained on 128-token pieces; longer input costs quadratic time for little gain.
EMBED_CHARS = 480


@dataclass(frozen=True)
class StoredChunk:
    id: str
    runbook: str
    ordinal: int
    title: str
    section: str
    text: str
    names: dict[str, int] = field(default_factory=dict)

    @property
    def header(self) -> str:
        """What every chunk of a runbook shares: its title and the alert names it answers."""
        spelled = " ".join(split_camel(n) for n in self.names if split_camel(n).lower() != self.title.lower())
        return f"{self.title} ({spelled})" if spelled else self.title

    @property
    def lexical_text(self) -> str:
        return f"{self.header}\n{' '.join(self.names)}\n{self.section}\n{self.text}"

    @property
    def embed_text(self) -> str:
        section = self.section if self.section != self.title else ""
        text = f"{self.header}. {section}: {self.text}" if section else f"{self.header}. {self.text}"
        return text[:EMBED_CHARS]


@dataclass
class IndexReport:
    indexed: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def _stored(book: Runbook) -> list[StoredChunk]:
    names = alert_names(book.id.rsplit("/", 1)[-1], book.alerts, book.heading)
    return [StoredChunk(point_id("runbook", book.id, str(c.ordinal)), book.id, c.ordinal, book.title, c.section,
                        c.text, names) for c in book.chunks]


def summary_chunk(first: StoredChunk) -> StoredChunk:
    """The runbook as one piece: its header and opening section (ordinal -1 marks it)."""
    return StoredChunk(point_id("runbook-summary", first.runbook), first.runbook, -1, first.title, first.title,
                       first.text, first.names)


def _payload(chunk: StoredChunk, book: Runbook, source: str) -> dict[str, Any]:
    return {"kind": CHUNK_KIND if chunk.ordinal >= 0 else SUMMARY_KIND, "runbook": chunk.runbook, "ordinal": chunk.ordinal, "title": chunk.title,
            "section": chunk.section, "text": chunk.text, "names": chunk.names, "hash": book.content_hash,
            "source": source, "services": list(book.services), "tags": list(book.tags),
            "severity": book.severity, "interventions": list(book.interventions)}


def index_runbooks(index: VectorIndex, embedder: Embedder, root: Path,
                   report: Callable[[str], None]) -> IndexReport:
    """Bring the store in line with `root`: new and changed files embedded, unchanged ones skipped,
    deleted ones removed. Files that cannot be used are reported through `report`, one line each."""
    source = str(root.resolve())
    existing: dict[str, tuple[str, list[str]]] = {}
    for pid, payload in index.payloads({"kind": [CHUNK_KIND, SUMMARY_KIND]}):
        if payload.get("source") == source:
            rb = str(payload.get("runbook"))
            existing.setdefault(rb, (str(payload.get("hash")), []))[1].append(pid)
    out = IndexReport()
    seen: set[str] = set()
    todo: list[tuple[StoredChunk, Runbook]] = []
    for path in runbook_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            book = read_runbook(path, root)
        except RunbookFileError as exc:
            out.skipped += 1
            report(f"skipped {rel}: {exc}")
            continue
        for warning in book.warnings:
            report(f"warning {rel}: {warning}")
        seen.add(book.id)
        out.indexed += 1
        out.chunks += len(book.chunks)
        old = existing.get(book.id)
        if old is not None and old[0] == book.content_hash:
            out.unchanged += 1
            continue
        if old is not None:
            index.delete(old[1])
            out.updated += 1
        else:
            out.added += 1
        chunks = _stored(book)
        todo.extend((chunk, book) for chunk in chunks)
        todo.append((summary_chunk(chunks[0]), book))
    todo.sort(key=lambda item: len(item[0].embed_text))  # similar lengths batch with little padding
    for start in range(0, len(todo), EMBED_BATCH * 4):
        batch = todo[start : start + EMBED_BATCH * 4]
        vectors = embedder.embed([c.embed_text for c, _ in batch])
        index.upsert([IndexPoint(c.id, v, _payload(c, b, source)) for (c, b), v in zip(batch, vectors, strict=True)])
    for rb, (_, ids) in existing.items():
        if rb not in seen:
            index.delete(ids)
            out.removed += 1
    index.flush()
    return out


def load_chunks(index: VectorIndex) -> list[StoredChunk]:
    """Every stored chunk, in runbook then section order."""
    rows = [StoredChunk(pid, str(p.get("runbook")), int(p.get("ordinal", 0)), str(p.get("title", "")),
                        str(p.get("section", "")), str(p.get("text", "")), dict(p.get("names") or {}))
            for pid, p in index.payloads({"kind": CHUNK_KIND})]
    return sorted(rows, key=lambda c: (c.runbook, c.ordinal))


def runbook_facts(index: VectorIndex, runbook: str) -> dict[str, Any] | None:
    """The front matter facts of one runbook (services, tags, severity, interventions), or None."""
    rows = index.payloads({"kind": CHUNK_KIND, "runbook": runbook})
    if not rows:
        return None
    payload = rows[0][1]
    return {k: payload.get(k) for k in ("runbook", "title", "services", "tags", "severity", "interventions")}


def load_feedback(index: VectorIndex) -> dict[str, tuple[int, int]]:
    return {str(p.get("runbook")): (int(p.get("successes", 0)), int(p.get("failures", 0)))
            for _, p in index.payloads({"kind": FEEDBACK_KIND})}


def record_outcome(index: VectorIndex, runbook: str, succeeded: bool) -> tuple[int, int]:
    """Count one intervention outcome for `runbook`; returns (successes, failures) after it."""
    pid = point_id("runbook-feedback", runbook)
    current = dict(index.payloads({"kind": FEEDBACK_KIND, "runbook": runbook}))
    payload = current.get(pid, {"kind": FEEDBACK_KIND, "runbook": runbook, "successes": 0, "failures": 0})
    payload["successes" if succeeded else "failures"] = int(payload.get("successes" if succeeded else "failures", 0)) + 1
    vector = np.zeros(DIM, dtype=np.float32)
    vector[0] = 1.0  # never searched: chunk searches filter on kind
    index.upsert([IndexPoint(pid, vector, payload)])
    index.flush()
    return int(payload["successes"]), int(payload["failures"])
