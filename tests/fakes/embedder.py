"""A deterministic, model-free embedder for tests: hashed word tokens and character trigrams.

Texts that share words and spelling get a high cosine, unrelated texts a low one, and the same
text always the same vector, in every process (blake2b, not Python's salted `hash`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

DIM = 384
_WORD = re.compile(r"\w+")


def _slot(token: str, dim: int) -> tuple[int, float]:
    """A token's column and sign (the sign halves collisions' bias)."""
    h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, 1.0 if (h >> 63) & 1 else -1.0


class HashEmbedder:
    """Feature hashing of lowercase word tokens (weight 1) and char trigrams (weight 0.5), L2-normalised."""

    name = "test/hash-embedder"

    def __init__(self, dim: int = DIM, word_weight: float = 1.0, trigram_weight: float = 0.5) -> None:
        self.dim = dim
        self.word_weight = word_weight
        self.trigram_weight = trigram_weight
        self.calls = 0          # how many embed() calls were made
        self.texts_embedded = 0  # how many texts they carried

    def vector(self, text: str) -> np.ndarray:
        row = np.zeros(self.dim, dtype=np.float64)
        lowered = text.lower()
        for word in _WORD.findall(lowered):
            col, sign = _slot("w:" + word, self.dim)
            row[col] += sign * self.word_weight
        padded = f"  {' '.join(lowered.split())}  "
        for i in range(len(padded) - 2):
            col, sign = _slot("t:" + padded[i : i + 3], self.dim)
            row[col] += sign * self.trigram_weight
        norm = np.linalg.norm(row)
        if norm == 0:
            row[0] = 1.0  # empty text: still a unit vector, so cosine stays defined
            norm = 1.0
        return (row / norm).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts])


class TableEmbedder:
    """Chosen vectors for chosen texts (looked up by exact text, after Ballast's masking), hashing for the rest.

    Lets a test fix the cosine between two signals exactly: `unit_pair(0.93)` gives two vectors
    with that cosine.
    """

    name = "test/table-embedder"

    def __init__(self, table: dict[str, np.ndarray] | None = None, dim: int = DIM) -> None:
        self.dim = dim
        self.table = {k: _unit(v) for k, v in (table or {}).items()}
        self.fallback = HashEmbedder(dim)
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.table[t] if t in self.table else self.fallback.vector(t) for t in texts])


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def basis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def with_cosine(base: np.ndarray, cosine: float, direction: int, dim: int = DIM) -> np.ndarray:
    """A unit vector whose cosine with the unit vector `base` is exactly `cosine`.

    `direction` picks an axis orthogonal to `base` (base must be a basis vector other than it).
    """
    other = basis(direction, dim)
    assert abs(float(np.dot(base, other))) < 1e-9, "direction must be orthogonal to base"
    v = cosine * np.asarray(base, dtype=np.float64) + np.sqrt(1.0 - cosine**2) * other
    return _unit(v)
