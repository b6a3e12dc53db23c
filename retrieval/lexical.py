"""Lexical retrieval: a tokenizer for ops text (CamelCase alert names, label pairs), a light
English stemmer, and an in-memory Okapi BM25 index over a list of documents.

The index is rebuilt from stored text at load, so every process (and a Qdrant server
deployment) sees the same ranking without a second store to keep in sync.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+[A-Za-z][A-Za-z0-9]*")
# Function words only: negations and quantifiers ("not", "any", "some", "all") tell twin alerts apart.
STOPWORDS = frozenset(
    "a an and are as at be been being by can could did do does for from had has have how i if in into is it "
    "its of on or our than that the their them then there these they this those to was we were what when "
    "where which while who why will with you your also so very just about here too via per".split()
)
_CONTRACTION = re.compile(r"(?i)(?:\b(can|won))?n?['’]t\b")
# Ordered longest first; a suffix is removed only when at least three letters remain.
_SUFFIXES = ("ational", "ations", "ation", "ings", "ing", "ions", "ion", "ures", "ure", "ers", "er",
             "ies", "ied", "ed", "ly", "ates", "ate", "es", "s")


def stem(word: str) -> str:
    """A light suffix stripper: `failing`, `failed`, `failures` all become `fail`."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            root = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                root += "y"
            elif len(root) > 3 and root[-1] == root[-2] and root[-1] not in "lsz":
                root = root[:-1]  # "stopped" -> "stop"
            root = root[:-1] if root.endswith("e") and len(root) > 3 else root
            return root[:-2] if root.endswith("ur") and len(root) > 5 else root  # configur(e|ation)
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


@lru_cache(maxsize=200_000)
def _word_tokens(raw: str) -> tuple[str, ...]:
    """The tokens of one word, cached: a corpus has few distinct words and many repeats."""
    parts = _CAMEL.sub(" ", raw).split()
    out = [raw.lower()] if len(parts) > 1 else []
    out.extend(stem(p.lower()) for p in parts if len(p) > 1 and p.lower() not in STOPWORDS)
    return tuple(out)


def tokens(text: str) -> list[str]:
    """Lowercased, stemmed words; CamelCase names add their parts (`TargetDown` -> targetdown, target, down)."""
    out: list[str] = []
    for raw in _WORD.findall(_CONTRACTION.sub(r"\1 not", text)):
        out.extend(_word_tokens(raw))
    return out


class BM25:
    """Okapi BM25 with precomputed per-posting weights: a query costs one add per matching posting."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.size = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avg = float(lengths.mean()) if self.size else 0.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            idx = np.array(ids, dtype=np.int64)
            tf = np.array(tfs, dtype=np.float64)
            idf = math.log(1.0 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            norm = k1 * (1.0 - b + b * lengths[idx] / max(avg, 1e-9))
            self._postings[term] = (idx, (idf * tf * (k1 + 1.0) / (tf + norm)).astype(np.float32))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for `query` (a repeated query term counts once)."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(query):
            hit = self._postings.get(term)
            if hit is not None:
                out[hit[0]] += hit[1]
        return out

    def idf(self, term: str) -> float:
        hit = self._postings.get(term)
        df = 0 if hit is None else len(hit[0])
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))
