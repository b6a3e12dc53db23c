"""The worker pool in a child process: what `ballast serve` runs with a Qdrant server, so deciding never stalls answers.

Intake holds the GIL for most of its work (SQL, masking, the index's calls), so in the server's
process it would delay every acknowledgement. With a Qdrant server (BALLAST_QDRANT_URL) both
processes can reach the index: the child runs the same `WorkerPool` threads, and sends each batch's report back for /metrics. It
ignores SIGINT/SIGTERM (the parent stops it after the last request is answered) and stops on
its own when the parent dies.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.metrics import BatchReport, Metrics
from bot.settings import Settings

log = logging.getLogger("ballast.workers")
HEALTH_EVERY = 5.0


class ChildWorkers:
    """A `Processor` whose WorkerPool runs in a spawned process; `on_exit` is called if it dies on its own."""

    def __init__(self, settings: Settings, metrics: Metrics, on_exit: Callable[[int | None], None]) -> None:
        ctx = mp.get_context("spawn")
        self.metrics, self.on_exit = metrics, on_exit
        self._stop, self._ready, self._wake = ctx.Event(), ctx.Event(), ctx.Event()
        self._accepted = ctx.Value("q", 0, lock=False)  # written by the event loop thread only
        self._index_ok = ctx.Value("b", 0, lock=False)
        self._reports: Any = ctx.Queue()
        self._proc = ctx.Process(target=child_main, name="ballast-workers", args=(
            settings, self._stop, self._ready, self._wake, self._accepted, self._index_ok, self._reports,
            os.getpid()))
        self._relay = threading.Thread(target=self._relay_reports, name="ballast-metrics-relay", daemon=True)
        self._stopping = False

    def start(self) -> None:
        self._proc.start()
        self._relay.start()

    def wake(self, count: int = 1) -> None:
        self._accepted.value += count
        if not self._wake.is_set():
            self._wake.set()

    def health(self) -> dict[str, str]:
        if not self._proc.is_alive():
            return {"vector_index": "error: the worker process exited", "model": "error: the worker process exited"}
        if not self._ready.is_set():
            return {"vector_index": "loading", "model": "loading"}
        return {"vector_index": "ok" if self._index_ok.value else "error: not reachable", "model": "ok"}

    def stop(self, timeout: float = 10.0) -> bool:
        self._stopping = True
        self._stop.set()
        self._proc.join(timeout)
        clean = not self._proc.is_alive()
        if not clean:
            log.warning("the worker process did not stop within %.0fs; terminating it", timeout)
            self._proc.terminate()
            self._proc.join(5)
        self._reports.put(None)
        self._relay.join(5)
        return clean

    def _relay_reports(self) -> None:
        while True:
            try:
                report = self._reports.get(timeout=1.0)
            except Exception:  # queue.Empty: check the child is still there
                if not self._proc.is_alive() and not self._stopping:
                    log.error("the worker process exited (status %s)", self._proc.exitcode)
                    self.on_exit(self._proc.exitcode)
                    return
                continue
            if report is None:
                return
            self.metrics.apply(report)


def child_main(settings: Settings, stop: Any, ready: Any, wake: Any, accepted: Any, index_ok: Any,
               reports: Any, parent_pid: int) -> None:
    """The child: build services, run the pool until the parent says stop (or is gone), close the stores."""
    from bot.app import build_services
    from bot.worker import WorkerPool

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(settings)
    for folder, indexed in services.index_configured_runbooks(lambda line: log.warning("runbooks: %s", line)):
        log.info("runbooks: %d from %s (%d sections)", indexed.indexed, folder, indexed.chunks)
    pool = WorkerPool(services, reports.put, threads=settings.workers, batch=settings.worker_batch,
                      lease_seconds=settings.inbox_lease_seconds, accepted=lambda: int(accepted.value))

    def bridge() -> None:  # the parent's wake-ups, into the pool
        while not stop.is_set():
            if wake.wait(0.5):
                wake.clear()
                pool.wake(0)

    threading.Thread(target=bridge, name="ballast-wake", daemon=True).start()
    pool.start()
    checked = 0.0
    try:
        while not stop.wait(0.5):
            if os.getppid() != parent_pid:
                log.warning("the server process is gone; stopping the workers")
                break
            if pool.ready.is_set() and time.monotonic() - checked > HEALTH_EVERY:
                index_ok.value = 1 if pool.health()["vector_index"] == "ok" else 0
                checked = time.monotonic()
                ready.set()
            if pool.failed:
                raise SystemExit(1)
    finally:
        pool.stop(4.0)
        services.close()
