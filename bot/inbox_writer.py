"""Group commit for the accept path: one thread writes the signals of every waiting request in one transaction.

Requests hand their signals over and wait for the commit; none is answered before its rows are
committed. Under load many requests share one commit, so SQLite's single write lock (and, with
the acknowledging engine of bot/db.py, one fsync) is taken once per group instead of once per
request. Handing over and answering are batched too: the requests of one event-loop turn reach
the thread as one item, and the answers of one group reach the event loop in one wake-up. The
same thread keeps the backlog count fresh.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeAlias

from sqlalchemy import Engine

from bot import inbox
from retrieval.signal import Signal

log = logging.getLogger("ballast.inbox")
_Waiter: TypeAlias = "asyncio.Future[list[int]] | Future[list[int]]"
_Job: TypeAlias = tuple[Sequence[Signal], str, _Waiter]
_Outcome: TypeAlias = tuple["asyncio.Future[list[int]]", "list[int] | BaseException"]


class InboxWriter:
    """Commits submitted signals in groups of up to `max_rows`; `commit` (async) and `submit` give their inbox ids."""

    def __init__(self, engine: Engine, *, max_rows: int = 2000, idle: Callable[[], None] | None = None,
                 idle_seconds: float = 1.0) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.idle = idle  # called between groups at most every `idle_seconds` (the backlog recount)
        self.idle_seconds = idle_seconds
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def commit(self, signals: Sequence[Signal], source: str) -> list[int]:
        """The inbox ids of `signals`, once their rows are committed (raises what the commit raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._check_open()
        waiting = self._pending.setdefault(loop, [])
        waiting.append((signals, source, future))
        if len(waiting) == 1:  # the first request of this loop turn: hand the turn's requests over after it
            loop.call_soon(self._hand_over, loop)
        return await future

    def submit(self, signals: Sequence[Signal], source: str) -> Future[list[int]]:
        """From a thread without an event loop: a future of the inbox ids."""
        future: Future[list[int]] = Future()
        self._check_open()
        with self._lock:
            if self._closed:
                raise RuntimeError("the inbox writer is stopped")
            self._jobs.put([(signals, source, future)])
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what was submitted, then end the thread."""
        with self._lock:  # jobs are handed over under this lock too: none can follow the end mark
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._jobs.put(None)
        if thread is not None:
            thread.join(timeout)

    def _check_open(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the inbox writer is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ballast-inbox-writer", daemon=True)
                self._thread.start()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending.pop(loop, [])
        with self._lock:
            if not self._closed:
                self._jobs.put(jobs)
                return
        stopped = RuntimeError("the inbox writer is stopped")
        _settle([(waiter, stopped) for _, _, waiter in jobs if isinstance(waiter, asyncio.Future)])

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
            group = list(first)
            rows = sum(len(job[0]) for job in group)
            while rows < self.max_rows:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.extend(more)
                rows += sum(len(job[0]) for job in more)
            self._commit(group)
            self._tick()

    def _commit(self, group: list[_Job]) -> None:
        signals = [s for job in group for s in job[0]]
        sources = [job[1] for job in group for _ in job[0]]
        outcomes: list[list[int] | BaseException]
        try:
            ids = inbox.enqueue(self.engine, signals, sources)
        except Exception as exc:
            log.exception("committing %d signals to the inbox failed", len(signals))
            outcomes = [exc] * len(group)
        else:
            outcomes, start = [], 0
            for job_signals, _, _ in group:
                outcomes.append(ids[start : start + len(job_signals)])
                start += len(job_signals)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for (_, _, waiter), outcome in zip(group, outcomes, strict=True):
            if isinstance(waiter, asyncio.Future):
                by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
            elif isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
        for loop, settled in by_loop.items():  # one wake-up per event loop, not one per request
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass

    def _tick(self) -> None:
        if self.idle is None:
            return
        try:
            self.idle()
        except Exception:
            log.exception("counting the inbox backlog failed")


def _settle(settled: list[_Outcome]) -> None:
    for future, outcome in settled:
        if future.done():  # the request was cancelled (its client went away): the rows stay committed
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
