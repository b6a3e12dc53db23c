"""The worker pool: threads that claim inbox batches, run them through intake, and mark them done.

A signal without an id of its own gets `inbox:<row id>` as its external id, so running a row
again (after a crash, or a lease another replica took over) is a replay in intake, never a
second count. Intake runs one batch at a time per process: dedup decisions stay sequential and
the embedder is never called from two threads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection

from bot import escalation_store, inbox
from bot.inbox import Claimed
from bot.incidents import utcnow
from bot.metrics import BatchReport
from bot.slack import outbox

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger("ballast.worker")
FLOOD_RATE, FLOOD_HOLD, FLOOD_DEFER = 200.0, 2.0, 30.0
WARM_UP_ATTEMPTS = 15


class Processor(Protocol):
    """What the HTTP app needs of a worker pool, in this process (WorkerPool) or a child (bot/worker_process.py)."""

    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> bool: ...
    def wake(self, count: int = 1) -> None: ...
    def health(self) -> dict[str, str]: ...


def _replay_key(item: Claimed) -> tuple[str, str | None, str | None, str]:
    s = item.signal
    return (s.tenant, s.source, s.external_id, s.text)


class WorkerPool:
    """`threads` workers over the inbox of `services`' database; `run_once` is one batch, for tests too."""

    def __init__(self, services: Services, report: Callable[[BatchReport], None] | None = None, *, threads: int = 2, batch: int = 64,
                 lease_seconds: float = 60.0, poll_seconds: float = 0.5,
                 accepted: Callable[[], int] | None = None) -> None:
        self.services = services
        self.report = report or (lambda _: None)
        self.threads = threads
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._accepted = 0
        # Signals acknowledged so far (by this process's HTTP side): their rate tells a flood.
        self.accepted = accepted or (lambda: self._accepted)
        self._rate_mark = (time.monotonic(), 0)
        self._flood_start = self._flood_until = 0.0
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]
        self.ready = threading.Event()  # set once the model and index are loaded
        self.failed: str | None = None  # why they could not be
        self._intake_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Escalation policies: a new incident's timer is stored with its decision.
        self.config = services.config

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        warm = threading.Thread(target=self._warm_up, name="ballast-warm-up", daemon=True)
        warm.start()
        self._threads.append(warm)
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"ballast-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop taking batches; a batch in progress is finished. True when every thread ended in time."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("workers still busy after %.0fs: %s (their rows are re-leased later)", timeout, alive)
        self._threads.clear()
        return not alive

    def wake(self, count: int = 1) -> None:
        self._accepted += count
        self._wake.set()

    def deferring(self) -> bool:
        """Hold decisions back: webhooks are flooding in, and the flood began under FLOOD_DEFER seconds ago.

        A flood is more than FLOOD_RATE acknowledgements a second (more than intake decides) and
        lasts until FLOOD_HOLD seconds pass without one, so it does not flap. Deferring absorbs
        a burst: acknowledging gets the CPU and SQLite's write lock, and the backlog is decided
        right after. A flood that outlasts FLOOD_DEFER is decided while it goes on.
        """
        now = time.monotonic()
        since, before = self._rate_mark
        if now - since >= 0.25:
            total = self.accepted()
            self._rate_mark = (now, total)
            if (total - before) / (now - since) > FLOOD_RATE:
                if now >= self._flood_until:
                    self._flood_start = now
                self._flood_until = now + FLOOD_HOLD
        return now < self._flood_until and now - self._flood_start < FLOOD_DEFER

    def health(self) -> dict[str, str]:
        """Readiness of what the workers need: the vector index answers and the model is loaded."""
        if not self.ready.is_set():
            state = f"error: {self.failed}" if self.failed else "loading"
            return {"vector_index": state, "model": state}
        try:
            self.services.signal_index.count({"tenant": "-"})
            index = "ok"
        except Exception as exc:
            index = f"error: {type(exc).__name__}"
        return {"vector_index": index, "model": "ok"}

    def _warm_up(self) -> None:
        # A restart right after a crash may find the embedded index still held for a moment.
        for attempt in range(1, WARM_UP_ATTEMPTS + 1):
            try:
                with self._intake_lock:
                    self.services.intake.embedder.embed(["warm-up"])
                    self.services.signal_index.count({"tenant": "-"})
                self.ready.set()
                return
            except Exception as exc:
                if attempt == WARM_UP_ATTEMPTS or self._stop.wait(1.0):
                    log.error("loading the model or the vector index failed: %s", exc)
                    self.failed = str(exc)
                    return

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.deferring():
                self._stop.wait(0.25)
                continue
            try:
                done = self.run_once()
            except Exception:
                log.exception("worker batch failed; retrying after a pause")
                done = 0
                self._stop.wait(self.poll_seconds)
            if done == 0 and not self._stop.is_set():
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    # -- one batch -----------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> int:
        """Claim one batch, decide it, mark it done; the number of rows taken (0: nothing to do)."""
        engine = self.services.engine
        size = self.batch if limit is None else min(limit, self.batch)
        if size <= 0:
            return 0
        claimed = inbox.claim(engine, self.name, size, self.lease_seconds)
        if not claimed:
            return 0
        started = time.perf_counter()
        failed = False
        try:
            results = self._decide(claimed)
        except Exception as exc:
            failed = True
            log.warning("batch of %d failed (%s); deciding its rows one by one", len(claimed), type(exc).__name__)
            results = self._decide_singly(claimed)
        now = utcnow()
        opened = [int(r["incident_id"]) for r in results.values()
                  if r.get("decision") in ("new", "regression") and r.get("incident_id") and not r.get("replayed")]
        def arm(conn: Connection) -> None:  # timers of the incidents this batch opened, stored with it
            escalation_store.arm_in(conn, self.config, now, opened)

        armed = arm if opened and self.config.escalation else None
        inbox.finish(engine, self.name, results, self._notices(claimed, results, now), armed)
        self.report(BatchReport(
            decisions=["replayed" if r.get("replayed") else str(r.get("decision")) for r in results.values()],
            seconds=time.perf_counter() - started, failed=failed,
            waits=[max(0.0, (now - c.received_at).total_seconds()) for c in claimed if c.id in results]))
        return len(claimed)

    def _notices(self, claimed: list[Claimed], results: dict[int, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """What Slack is to show of these decisions (stored with them; bot/slack/notices.py posts them)."""
        settings = self.services.settings
        if not settings.slack_enabled:
            return []
        rows: dict[str, dict[str, Any]] = {}
        for item in claimed:
            result = results.get(item.id)
            signal = item.signal if item.signal.external_id else replace(item.signal, external_id=f"inbox:{item.id}")
            row = outbox.notice_row(signal, result, now, settings.slack_thread_window, item.reply) if result else None
            if row is not None:
                rows.setdefault(row["key"], row)  # two deliveries of one signal: one notice
        return list(rows.values())

    def _decide(self, claimed: list[Claimed]) -> dict[int, dict[str, Any]]:
        items = [c if c.signal.external_id else replace(c, signal=replace(c.signal, external_id=f"inbox:{c.id}"))
                 for c in claimed]
        # Two deliveries of one signal in one batch: decide the first, the others replay its result.
        first: dict[tuple[str, str | None, str | None, str], Claimed] = {}
        for item in items:
            first.setdefault(_replay_key(item), item)
        # One intake call per tenant: decisions never cross tenants, and intake's in-batch repeat
        # check keys on (source, id, text) alone, so the same alert from two tenants must not
        # share a call.
        by_tenant: dict[str, list[Claimed]] = {}
        for item in first.values():
            by_tenant.setdefault(item.signal.tenant, []).append(item)
        by_key: dict[tuple[str, str | None, str | None, str], dict[str, Any]] = {}
        with self._intake_lock:
            for group in by_tenant.values():
                decided = self.services.intake.process([c.signal for c in group], [c.id for c in group])
                by_key.update((_replay_key(c), r.to_json()) for c, r in zip(group, decided, strict=True))
        results: dict[int, dict[str, Any]] = {}
        for item in items:
            result = dict(by_key[_replay_key(item)])
            if result.get("id") != item.id:
                result.update(id=item.id, replayed=True)
            results[item.id] = result
        return results

    def _decide_singly(self, claimed: list[Claimed]) -> dict[int, dict[str, Any]]:
        results: dict[int, dict[str, Any]] = {}
        for item in claimed:
            try:
                results.update(self._decide([item]))
            except Exception as exc:
                log.exception("inbox row %d failed (attempt %d)", item.id, item.attempts)
                inbox.release(self.services.engine, self.name, [item], f"{type(exc).__name__}: {exc}")
        return results
