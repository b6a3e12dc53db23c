"""The intake batcher: a burst becomes few batches in arrival order, and one bad signal fails alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.intake import IngestResult
from bot.slack.batcher import IntakeBatcher
from retrieval.signal import Signal


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, signals: Sequence[Signal], ids: Sequence[Any]) -> list[IngestResult]:
        if any(s.text == "poison" for s in signals):
            if len(signals) > 1:
                raise RuntimeError("one bad signal spoils the batch")
            raise ValueError("poison")
        with self.lock:
            self.batches.append([s.text for s in signals])
        return [IngestResult(i, "new", n) for n, i in enumerate(ids)]


def test_a_burst_is_decided_in_few_batches_in_order() -> None:
    recorder = Recorder()
    batcher = IntakeBatcher(recorder, max_batch=64, linger=0.3)
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda i: batcher.ingest(Signal(text=f"r{i}"), i), range(40)))
    assert [r.id for r in results] == list(range(40))
    assert len(recorder.batches) <= 3
    assert sorted(t for b in recorder.batches for t in b) == sorted(f"r{i}" for i in range(40))


def test_a_failing_batch_is_retried_one_by_one() -> None:
    recorder = Recorder()
    batcher = IntakeBatcher(recorder, linger=0.3)
    futures = [batcher.submit(Signal(text=t), t) for t in ("ok-1", "poison", "ok-2")]
    assert futures[0].result(5).id == "ok-1" and futures[2].result(5).id == "ok-2"
    with pytest.raises(ValueError, match="poison"):
        futures[1].result(5)
