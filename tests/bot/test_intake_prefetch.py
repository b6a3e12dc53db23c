"""Background embedding in intake: the same decisions with and without vectors computed ahead.

`Intake.prefetch` (called by `ballast ingest` with the next batch) and the batch's own request at
the start of `process` only warm the embedder's cache on another thread; every decision is still
made in order from the database. These tests run one stream twice in one database, as two
tenants: once through an embedder without `prefetch`, once through `CachedEmbedder` with every
next batch prefetched, and compare the outcomes line by line.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.app import Services
from bot.intake import IngestResult, prepare
from retrieval.embedder import CachedEmbedder
from retrieval.signal import signal_from_mapping
from tests.fakes.embedder import HashEmbedder

TEMPLATES = [
    "payment gateway timeout after {n} ms calling bank api host {h}",
    "payment gateway timed out after {n} ms while calling the bank api on {h}",
    "disk usage on {h} reached {n} percent of volume data",
    "user {n} login failed from {h}: invalid password",
    "user {n} login failed from {h}: account locked",
    "cache miss ratio {n} percent on shard {h}",
    "worker {h} restarted after out of memory kill ({n} MiB)",
    "queue orders backlog is {n} messages on broker {h}",
]


def stream(n: int, seed: int = 3) -> list[dict[str, Any]]:
    r = random.Random(seed)
    words = ["alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "tango"]
    out = []
    for i in range(n):
        template = r.choice(TEMPLATES)
        if r.random() < 0.3:  # a new wording, so some lines need a vector and a search
            template = f"{r.choice(words)} {template} {r.choice(words)}"
        out.append({"id": i, "source": "app", "text": template.format(n=r.randint(1, 99999),
                                                                        h=f"10.0.{r.randint(0, 255)}.{r.randint(1, 254)}")})
    return out


class ModelOf(HashEmbedder):
    """The hashing fake as a CachedEmbedder backend, counting the texts it is given."""

    name = "hash"

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().embed(texts)


def outcomes(results: list[IngestResult]) -> list[tuple[str, int | None, float | None, int | None]]:
    """Decisions with incident ids renumbered by first appearance (the two tenants share id sequences)."""
    names: dict[int, int] = {}

    def name(i: int | None) -> int | None:
        return None if i is None else names.setdefault(i, len(names))

    return [(r.decision, name(r.incident_id), None if r.similarity is None else round(r.similarity, 5),
             name(r.candidate)) for r in results]


def run(svc: Services, lines: list[dict[str, Any]], tenant: str, batch: int, ahead: bool) -> list[IngestResult]:
    signals = [signal_from_mapping({**line, "tenant": tenant}, max_text_chars=16_000) for line in lines]
    ids = [line["id"] for line in lines]
    out: list[IngestResult] = []
    for start in range(0, len(signals), batch):
        if ahead and start + batch < len(signals):
            svc.intake.prefetch(signals[start + batch:start + 2 * batch])
        out.extend(svc.intake.process(signals[start:start + batch], ids[start:start + batch]))
    return out


def test_prefetching_the_next_batch_changes_no_decision(make_services: Callable[..., Services],
                                                        tmp_path: Path) -> None:
    lines = stream(240)
    plain = make_services(HashEmbedder())
    model = ModelOf()
    cached = CachedEmbedder()
    cached._model = model
    ahead = make_services(cached, home=tmp_path / "ahead", embed_ahead=True)

    expected = run(plain, lines, "plain", 40, ahead=False)
    got = run(ahead, lines, "ahead", 40, ahead=True)
    cached.close()

    assert outcomes(got) == outcomes(expected)
    decisions = {r.decision for r in expected}
    assert {"new", "duplicate"} <= decisions  # the stream exercises both stages
    # Every distinct masked text went through the model at most once, ahead or not.
    masked = {prepare(signal_from_mapping(line, max_text_chars=16_000)).masked for line in lines}
    assert 0 < model.texts <= len(masked)
