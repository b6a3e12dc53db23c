"""Prometheus metrics of one HTTP app: a registry per app (never the global one), so tests stay apart.

Counters follow the signal: received (committed to the inbox), rejected requests by reason,
processed by decision, deduped, incidents opened; a gauge for the inbox backlog; histograms
for request time, worker batch time and the time from receipt to decision. Model calls arrive
through retrieval's `LLMObserver` hub (`LLMMetrics`): calls by model and outcome, fallbacks to
extractive answers, tokens, cost and call time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from retrieval.llm import OBSERVERS, LLMCall, LLMObservers

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_LLM = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class BatchReport:
    """What one worker batch did; sent across a process boundary when the workers run in a child."""

    decisions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    waits: list[float] = field(default_factory=list)  # receipt to decision, per signal
    failed: bool = False


class LLMMetrics:
    """Model calls as Prometheus series: an `LLMObserver` (retrieval.llm) registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.calls = Counter("ballast_llm_calls", "Model calls by model and outcome (ok, timeout, error, "
                             "invalid_output), retries included in one call.", ["model", "outcome"], registry=r)
        self.fallbacks = Counter("ballast_llm_fallbacks", "Answers given extractively because the model call failed.",
                                 ["model"], registry=r)
        self.tokens = Counter("ballast_llm_tokens", "Tokens used by model calls, by kind (prompt, completion).",
                              ["model", "kind"], registry=r)
        self.cost = Counter("ballast_llm_cost_usd", "Cost of model calls in US dollars, where litellm knows the price.",
                            ["model"], registry=r)
        self.seconds = Histogram("ballast_llm_call_seconds", "Time of one model call, retries included.",
                                 ["model"], buckets=_LLM, registry=r)

    def llm_call(self, call: LLMCall) -> None:
        self.calls.labels(call.model, call.outcome).inc()
        self.seconds.labels(call.model).observe(call.seconds)
        if call.usage is not None:
            self.tokens.labels(call.model, "prompt").inc(call.usage.prompt_tokens)
            self.tokens.labels(call.model, "completion").inc(call.usage.completion_tokens)
            if call.usage.cost_usd is not None:
                self.cost.labels(call.model).inc(call.usage.cost_usd)

    def llm_fallback(self, model: str) -> None:
        self.fallbacks.labels(model).inc()


class Metrics:
    """The app's metric families, all registered on `self.registry`.

    `llm` is subscribed to `llm_hub` (the process's by default) for as long as this object lives.
    """

    def __init__(self, llm_hub: LLMObservers = OBSERVERS, embedder: str = "") -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # Which embedding backend serves (BALLAST_EMBEDDER, `auto` made concrete by `ballast serve`).
        Info("ballast_embedder", "The embedding backend of this process.", registry=r).info({"backend": embedder})
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
        self.llm = LLMMetrics(r)
        llm_hub.subscribe(self.llm)

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
