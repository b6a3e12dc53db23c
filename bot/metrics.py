"""Prometheus metrics of one HTTP app: a registry per app (never the global one), so tests stay apart.

Counters follow the signal: received (committed to the inbox), rejected requests by reason,
processed by decision, deduped, incidents opened; a gauge for the inbox backlog; histograms
for request time, worker batch time and the time from receipt to decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class BatchReport:
    """What one worker batch did; sent across a process boundary when the workers run in a child."""

    decisions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    waits: list[float] = field(default_factory=list)  # receipt to decision, per signal
    failed: bool = False


class Metrics:
    """The app's metric families, all registered on `self.registry`."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter("ballast_signals_received", "Signals committed to the inbox (acknowledged).",
                                ["source"], registry=r)
        self.rejected = Counter("ballast_requests_rejected", "Requests refused, by reason (nothing stored).",
                                ["reason"], registry=r)
        self.processed = Counter("ballast_signals_processed", "Signals decided by intake, by decision.",
                                 ["decision"], registry=r)
        self.deduped = Counter("ballast_signals_deduped", "Signals folded into an already open incident.",
                               registry=r)
        self.incidents_opened = Counter("ballast_incidents_opened", "Incidents opened (new and regressions).",
                                        registry=r)
        self.worker_failures = Counter("ballast_worker_failures", "Worker batches that raised and were retried.",
                                       registry=r)
        self.queue_depth = Gauge("ballast_inbox_queue_depth", "Inbox rows not yet processed (pending or leased).",
                                 registry=r)
        self.request_seconds = Histogram("ballast_http_request_seconds", "HTTP request handling time.",
                                         ["route", "method"], buckets=_FAST, registry=r)
        self.batch_seconds = Histogram("ballast_processing_batch_seconds", "Time intake took for one worker batch.",
                                       buckets=_SLOW, registry=r)
        self.decision_seconds = Histogram("ballast_processing_latency_seconds",
                                          "Time from receipt (commit) to decision, per signal.", buckets=_SLOW,
                                          registry=r)

    def apply(self, report: BatchReport) -> None:
        if report.failed:
            self.worker_failures.inc()
        if report.decisions:
            self.batch_seconds.observe(report.seconds)
        for wait in report.waits:
            self.decision_seconds.observe(wait)
        for decision in report.decisions:
            self.processed.labels(decision).inc()
            if decision == "duplicate":
                self.deduped.inc()
            elif decision in ("new", "regression"):
                self.incidents_opened.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
