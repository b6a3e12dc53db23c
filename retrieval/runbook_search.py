"""Runbook ranking: BM25 and dense chunk scores fused per runbook, explicit names winning outright.

`RunbookLibrary` holds what the store holds (chunk payloads, rebuilt into BM25 at load) and
answers `search`, `search_many` and `best_runbook` (the `RunbookMatcher` intake uses).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from retrieval.embedder import Embedder
from retrieval.index import Hit, VectorIndex
from retrieval.lexical import BM25, tokens
from retrieval.runbook_store import CHUNK_KIND, SUMMARY_KIND, StoredChunk, load_chunks, load_feedback

LEXICAL_WEIGHT = 0.5  # equal say for words and meaning (bench/runbook_search.py compares)
DENSE_CANDIDATES = 64  # chunks (and, separately, summaries) fetched per query
LEXICAL_CANDIDATES = 100
MIN_DENSE = 0.30  # MiniLM cosines of unrelated texts stay below this
MATCH_MEMORY = 10_000  # best_runbooks keys remembered (least recently used dropped)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")  # a name with at least two humps


@dataclass(frozen=True)
class Match:
    runbook: str
    score: float
    title: str
    explicit: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"runbook": self.runbook, "score": round(self.score, 4), "title": self.title}


@dataclass(frozen=True)
class Ranked:
    """Per-runbook evidence for one query, before fusion (the bench compares the parts)."""

    lexical: dict[str, float]
    dense: dict[str, float]


def _spread(scores: Mapping[str, float]) -> dict[str, float]:
    """Min-max scaling to [0, 1] within one query's candidates, so the two kinds of score add up."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    return {rb: (s - low) / (high - low) if high > low else 1.0 for rb, s in scores.items()}


def fuse(ranked: Ranked, lexical_weight: float = LEXICAL_WEIGHT) -> dict[str, float]:
    """Weighted sum of the scaled lexical and dense scores per runbook (convex combination fusion)."""
    lexical, dense = _spread(ranked.lexical), _spread(ranked.dense)
    return {rb: lexical_weight * lexical.get(rb, 0.0) + (1 - lexical_weight) * dense.get(rb, 0.0)
            for rb in lexical.keys() | dense.keys()}


def _dense(chunk_hits: Sequence[Hit], summary_hits: Sequence[Hit]) -> dict[str, float]:
    """Per runbook: the mean of its best chunk and its summary (the floor of a list when missing)."""
    best: dict[str, float] = {}
    for hit in chunk_hits:
        rb = str(hit.payload.get("runbook"))
        best[rb] = max(best.get(rb, -1.0), hit.score)
    whole = {str(h.payload.get("runbook")): h.score for h in summary_hits}
    floor_best = min(best.values(), default=0.0)
    floor_whole = min(whole.values(), default=0.0)
    return {rb: (best.get(rb, floor_best) + whole.get(rb, floor_whole)) / 2 for rb in best.keys() | whole.keys()}


def feedback_factor(successes: int, failures: int) -> float:
    """Outcomes nudge a runbook: at most +/-15%, damped until a few outcomes are in."""
    return 1.0 + 0.15 * (successes - failures) / (successes + failures + 3)


class RunbookLibrary:
    """The indexed runbooks of one collection, searchable in this process."""

    def __init__(self, index: VectorIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        self.reload()

    def reload(self) -> None:
        """Re-read chunk payloads from the store (after indexing, or another process's write)."""
        self.chunks: list[StoredChunk] = load_chunks(self.index)
        self.titles = {c.runbook: c.title for c in self.chunks}
        self.feedback = load_feedback(self.index)
        self._matched: OrderedDict[str, str | None] = OrderedDict()  # best_runbooks' memory, by key
        self._bm25 = BM25([tokens(c.lexical_text) for c in self.chunks])
        # Chunks are sorted by runbook, so each runbook is one slice: per-runbook maxima in one reduceat.
        self._runbooks = list(dict.fromkeys(c.runbook for c in self.chunks))
        starts = [i for i, c in enumerate(self.chunks) if i == 0 or c.runbook != self.chunks[i - 1].runbook]
        self._starts = np.array(starts, dtype=np.int64)
        self._names: dict[str, list[tuple[int, str]]] = {}
        self._folded: dict[str, list[tuple[int, str]]] = {}  # CamelCase names, any letter case
        self._ids = {rb.lower(): rb for rb in self.titles}
        for chunk in self.chunks:
            if chunk.ordinal == 0:
                for name, strength in chunk.names.items():
                    self._names.setdefault(name, []).append((strength, chunk.runbook))
                    if _CAMEL.search(name):
                        self._folded.setdefault(name.lower(), []).append((strength - 1, chunk.runbook))

    def __len__(self) -> int:
        return len(self.titles)

    def rank(self, texts: Sequence[str]) -> list[Ranked]:
        """Lexical and dense evidence per runbook for each text; one batched embedding call."""
        if not self.chunks:
            return [Ranked({}, {}) for _ in texts]
        vectors = self.embedder.embed(list(texts))
        out: list[Ranked] = []
        for text, vector in zip(texts, vectors, strict=True):
            per_runbook = np.maximum.reduceat(self._bm25.scores(tokens(text)), self._starts)
            best = np.argsort(-per_runbook)[:LEXICAL_CANDIDATES]
            lexical = {self._runbooks[i]: float(per_runbook[i]) for i in best if per_runbook[i] > 0}
            chunk_hits = self.index.search(vector, DENSE_CANDIDATES, where={"kind": CHUNK_KIND})
            summary_hits = self.index.search(vector, DENSE_CANDIDATES, where={"kind": SUMMARY_KIND})
            out.append(Ranked(lexical, _dense(chunk_hits, summary_hits)))
        return out

    def named(self, text: str, title: str | None = None, labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None) -> str | None:
        """A runbook the signal names: its runbook_url, its alertname, or an alert name in its text."""
        url = (annotations or {}).get("runbook_url") or (annotations or {}).get("runbook")
        if url:
            found = self.runbook_for_url(url)
            if found:
                return found
        candidates = [(labels or {}).get("alertname"), title, *_NAME.findall(text)]
        for name in candidates:
            claims = self._names.get(name or "") or self._folded.get((name or "").lower())
            if claims:
                return max(claims)[1]
        return None

    def runbook_for_url(self, url: str) -> str | None:
        """The runbook a URL or path names: the longest tail of its path that is a runbook id."""
        path = urlparse(url).path if "://" in url else url
        parts = [p for p in path.lower().split("/") if p]
        if parts:
            parts[-1] = re.sub(r"\.(md|markdown|html?)$", "", parts[-1])
        for start in range(len(parts)):
            found = self._ids.get("/".join(parts[start:]))
            if found:
                return found
        stems = {rb.rsplit("/", 1)[-1].lower(): rb for rb in self.titles}
        return stems.get(parts[-1]) if parts else None

    def search_many(self, texts: Sequence[str], top: int = 5) -> list[list[Match]]:
        results: list[list[Match]] = []
        for text, ranked in zip(texts, self.rank(texts), strict=True):
            results.append(self._matches(ranked, self.named(text), top))
        return results

    def search(self, text: str, top: int = 5, title: str | None = None, labels: Mapping[str, str] | None = None,
               annotations: Mapping[str, str] | None = None) -> list[Match]:
        ranked = self.rank([text])[0]
        return self._matches(ranked, self.named(text, title, labels, annotations), top)

    def _matches(self, ranked: Ranked, named: str | None, top: int) -> list[Match]:
        fused = fuse(ranked)
        for rb, score in fused.items():
            wins, losses = self.feedback.get(rb, (0, 0))
            fused[rb] = score * feedback_factor(wins, losses)
        if not ranked.lexical and max(ranked.dense.values(), default=0.0) < MIN_DENSE:
            fused = {}
        ordered = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        matches = [Match(rb, min(score, 0.999), self.titles.get(rb, rb)) for rb, score in ordered if rb != named]
        if named is not None:
            matches.insert(0, Match(named, 1.0, self.titles.get(named, named), explicit=True))
        return matches[:top]

    def best_chunks(self, text: str, k: int = 3, runbooks: int = 3) -> list[tuple[StoredChunk, float]]:
        """The `k` sections that best answer `text`, drawn from its `runbooks` best runbooks."""
        matches = self.search(text, runbooks)
        if not matches:
            return []
        weight = {m.runbook: m.score for m in matches}
        lexical = self._bm25.scores(tokens(text))
        vector = self.embedder.embed([text])[0]
        dense = {h.id: h.score for h in self.index.search(vector, DENSE_CANDIDATES, where={"kind": CHUNK_KIND})}
        pool = [(i, c) for i, c in enumerate(self.chunks) if c.runbook in weight and len(c.text) > 20]
        lex_scaled = _spread({c.id: float(lexical[i]) for i, c in pool})
        dense_scaled = _spread({c.id: dense.get(c.id, 0.0) for _, c in pool})
        scored = [(c, 0.5 * lex_scaled.get(c.id, 0.0) + 0.5 * dense_scaled.get(c.id, 0.0) + weight[c.runbook])
                  for _, c in pool]
        return sorted(scored, key=lambda cs: -cs[1])[:k]

    def best_runbook(self, text: str, title: str | None, labels: dict[str, str],
                     annotations: dict[str, str], key: str | None = None) -> str | None:
        """The runbook for a new incident, or None when nothing is indexed or nothing fits well enough.

        Stricter than search: a runbook named by the signal, or one whose meaning is close
        (dense score at least MIN_DENSE), so chat about unrelated things gets no runbook.
        """
        return self.best_runbooks([(text, title, labels, annotations)], None if key is None else [key])[0]

    def best_runbooks(self, signals: Sequence[tuple[str, str | None, dict[str, str], dict[str, str]]],
                      keys: Sequence[str | None] | None = None) -> list[str | None]:
        """`best_runbook` of each (text, title, labels, annotations), with one embedding call for all.

        Signals with the same `key` (intake passes the masked text) get the same runbook, ranked
        once on the first one's own text and remembered: one alert firing on a thousand hosts is
        matched once, not embedded a thousand times. Names and runbook_urls are still read per signal.
        """
        if not self.chunks:
            return [None] * len(signals)
        out: list[str | None] = [self.named(*signal) for signal in signals]
        groups: dict[str | int, list[int]] = {}  # a signal without a key is its own group
        for i, found in enumerate(out):
            if found is not None:
                continue
            key = keys[i] if keys is not None else None
            if key is not None and key in self._matched:
                self._matched.move_to_end(key)
                out[i] = self._matched[key]
            else:
                groups.setdefault(i if key is None else key, []).append(i)
        firsts = [members[0] for members in groups.values()]
        queries = ["\n".join(p for p in (signals[i][1], signals[i][0]) if p) for i in firsts]
        for (group, members), ranked in zip(groups.items(), self.rank(queries) if queries else [], strict=True):
            found = self._matches(ranked, None, 1)
            best = found[0].runbook if found and ranked.dense.get(found[0].runbook, 0.0) >= MIN_DENSE else None
            for i in members:
                out[i] = best
            if isinstance(group, str):
                self._matched[group] = best
                if len(self._matched) > MATCH_MEMORY:
                    self._matched.popitem(last=False)
        return out

    def set_feedback(self, runbook: str, totals: tuple[int, int]) -> None:
        """New outcome totals for `runbook`; they move ranks, so remembered matches are dropped."""
        self.feedback[runbook] = totals
        self._matched.clear()
