"""Group commit for the accept path: one thread writes the signals of every waiting request in one transaction.

Requests hand their signals over and wait for the commit; none is answered before its rows are
committed. Under load many requests share one commit, so SQLite's single write lock is taken
once per group instead of once per request. The same thread keeps the backlog count fresh.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from sqlalchemy import Engine

from bot import inbox
from retrieval.signal import Signal

log = logging.getLogger("ballast.inbox")
_Job = tuple[Sequence[Signal], str, "Future[list[int]]"]


class InboxWriter:
    """Commits submitted signals in groups of up to `max_rows`; `submit` returns a future of their inbox ids."""

    def __init__(self, engine: Engine, *, max_rows: int = 2000, idle: Callable[[], None] | None = None,
                 idle_seconds: float = 1.0) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.idle = idle  # called between groups at most every `idle_seconds` (the backlog recount)
        self.idle_seconds = idle_seconds
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, signals: Sequence[Signal], source: str) -> Future[list[int]]:
        future: Future[list[int]] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the inbox writer is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ballast-inbox-writer", daemon=True)
                self._thread.start()
            self._jobs.put((signals, source, future))
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then end the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                self._tick()
                continue
            if first is None:
                break
            group = [first]
            rows = len(first[0])
            while rows < self.max_rows:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                group.append(job)
                rows += len(job[0])
            self._commit(group)
            self._tick()

    def _commit(self, group: list[_Job]) -> None:
        signals = [s for job in group for s in job[0]]
        sources = [job[1] for job in group for _ in job[0]]
        try:
            ids = inbox.enqueue(self.engine, signals, sources)
        except Exception as exc:
            log.exception("committing %d signals to the inbox failed", len(signals))
            for _, _, future in group:
                future.set_exception(exc)
            return
        start = 0
        for job_signals, _, future in group:
            future.set_result(ids[start : start + len(job_signals)])
            start += len(job_signals)

    def _tick(self) -> None:
        if self.idle is None:
            return
        try:
            self.idle()
        except Exception:
            log.exception("counting the inbox backlog failed")
