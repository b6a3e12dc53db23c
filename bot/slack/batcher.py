"""Slack's way into intake: reports from concurrent listeners are decided together, in small batches.

Each `Intake.process` call ends with a vector-index flush that holds the interpreter for tens of
milliseconds; a burst of fifty `/incident`s made one flush each and starved the acks of Slack's
3-second window. Batching makes a burst cost a few flushes, in the order the reports arrived.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from bot.intake import IngestResult
from retrieval.signal import Signal

log = logging.getLogger(__name__)
Process = Callable[[Sequence[Signal], Sequence[Any]], list[IngestResult]]


@dataclass(frozen=True)
class _Item:
    signal: Signal
    given_id: Any
    future: Future[IngestResult]


class IntakeBatcher:
    """One thread that feeds `process` batches of up to `max_batch`, gathered over `linger` seconds.

    The linger delays a card by a quarter second; in exchange a burst's acks run before its intake.
    """

    def __init__(self, process: Process, *, max_batch: int = 64, linger: float = 0.25) -> None:
        self.process = process
        self.max_batch = max_batch
        self.linger = linger
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, signal: Signal, given_id: Any) -> Future[IngestResult]:
        self._ensure_started()
        item = _Item(signal, given_id, Future())
        self._queue.put(item)
        return item.future

    def ingest(self, signal: Signal, given_id: Any, timeout: float = 120.0) -> IngestResult:
        return self.submit(signal, given_id).result(timeout)

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="slack-intake", daemon=True)
                self._thread.start()

    def _take(self) -> list[_Item]:
        """The next batch: the first waiting report and whatever arrives within `linger` after it."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            try:
                results = self.process([i.signal for i in batch], [i.given_id for i in batch])
                for item, result in zip(batch, results, strict=True):
                    item.future.set_result(result)
            except Exception:
                log.exception("slack intake batch of %d failed; deciding its signals one by one", len(batch))
                for item in batch:
                    self._one(item)

    def _one(self, item: _Item) -> None:
        try:
            item.future.set_result(self.process([item.signal], [item.given_id])[0])
        except Exception as exc:  # the listener that submitted it reports the failure to its user
            item.future.set_exception(exc)
