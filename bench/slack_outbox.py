"""Alerts to Slack: what storing notices costs the workers, how a flood of repeats is posted, and escalations.

In one process, on SQLite in a temp dir, the hash embedder from the tests and the fake Slack Web API
on loopback (no network). Signals go straight into the inbox and the worker pool's `run_once`
decides them, as `ballast serve` does after a webhook.

  workers   N alerts over K incidents (the rest repeats) decided with Slack off (the baseline:
            no notices) and on (a `slack_outbox` row per alert, in the same transaction):
            alerts decided per second each way.
  outbox    the outbox job posting those notices: seconds, Web API calls, and replies per
            incident (a flood of repeats is one reply per gathering window, not one per alert).
  escalate  E incidents due at once: the escalation job's pass (arm, claim, post, advance),
            escalations per second, next to the outbox's cards per second as the baseline.

    .venv/bin/python bench/slack_outbox.py                # 2,000 alerts over 20 incidents, 200 escalations
    .venv/bin/python bench/slack_outbox.py --alerts 5000 --incidents 50 --escalations 500
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on sys.path; keep it from shadowing packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from pydantic import SecretStr  # noqa: E402

from bot import inbox  # noqa: E402
from bot.app import Services, build_services  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.escalation_job import run_escalations  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack import outbox  # noqa: E402
from bot.slack.app import slack_deps  # noqa: E402
from bot.slack.notices import deliver_due  # noqa: E402
from bot.worker import WorkerPool  # noqa: E402
from retrieval.signal import Signal  # noqa: E402
from tests.fakes.embedder import HashEmbedder  # noqa: E402
from tests.fakes.slack_api import FakeSlackAPI  # noqa: E402

WORDS = ["orders", "payments", "checkout", "search", "ledger", "billing", "auth", "catalog", "cart", "shipping",
         "pricing", "inventory", "profile", "gateway", "reports", "mailer", "queue", "storage", "images", "events"]


def alerts(count: int, incidents: int, base: datetime, severity: str = "warning") -> list[Signal]:
    """`count` firings of `incidents` distinct alerts (each a new startsAt, so each counts as a repeat)."""
    out = []
    for i in range(count):
        k = i % incidents
        name = f"{WORDS[k % len(WORDS)].capitalize()}{'Latency' if k < len(WORDS) else 'Errors' + str(k)}"
        service = f"{WORDS[k % len(WORDS)]}-{k}"
        out.append(Signal(text=f"{name} firing on {service}: p99 above its objective", tenant="default",
                          title=f"{name} on {service}", service=service, source="alertmanager", severity=severity,
                          labels={"alertname": name, "service": service, "severity": severity},
                          time=base + timedelta(seconds=i), external_id=f"{name}:{i}"))
    return out


def make(home: Path, api: FakeSlackAPI | None) -> Services:
    fields: dict[str, object] = {"BALLAST_HOME": home, "BALLAST_SLACK_THREAD_WINDOW": 0}
    settings = Settings(**fields)  # type: ignore[arg-type]
    if api is not None:
        settings = settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-bench"),
                                               "slack_signing_secret": SecretStr("bench"),
                                               "slack_api_url": api.url})
    return build_services(settings, HashEmbedder())


def decide(services: Services, signals: list[Signal]) -> float:
    inbox.enqueue(services.engine, signals, ["alertmanager"] * len(signals))
    pool = WorkerPool(services, threads=1, batch=services.settings.worker_batch)
    started = time.perf_counter()
    while pool.run_once():
        pass
    return time.perf_counter() - started


def header() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}{' (dirty)' if dirty else ''}, load {load:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--escalations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(header())
    api = FakeSlackAPI().start()
    base = datetime.now(UTC) - timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="ballast-bench-outbox-") as tmp:
        # Taking turns, each on a fresh data dir: the machine's load moves more than the difference.
        rates: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(args.rounds):
            for mode in ("off", "on"):
                services = make(Path(tmp) / f"{mode}{round_}", api if mode == "on" else None)
                rates[mode].append(args.alerts / decide(services, alerts(args.alerts, args.incidents, base)))
                if round_ < args.rounds - 1 or mode == "off":
                    services.close()
                else:
                    on = services
        print(f"workers   {args.alerts} alerts over {args.incidents} incidents, median of {args.rounds} rounds: "
              f"Slack off (baseline) {statistics.median(rates['off']):,.0f}/s, "
              f"Slack on (notices stored) {statistics.median(rates['on']):,.0f}/s")

        config = parse_config({"routes": {"default": "C0BENCH"},
                               "escalation": {"critical": {"ack_timeout": 60, "mention": "<!here>",
                                                           "channel": "C0ESC"}}})
        deps = slack_deps(on, config)
        calls_before = len(api.calls())
        started = time.perf_counter()
        while deliver_due(deps, "bench"):
            pass
        seconds = time.perf_counter() - started
        calls = api.calls()[calls_before:]
        posts = [c for c in calls if c.method == "chat.postMessage"]
        replies = [c for c in posts if c.params.get("thread_ts")]
        print(f"outbox    {outbox.counts(on.engine)} notices in {seconds:.2f}s: {len(posts) - len(replies)} cards, "
              f"{len(replies)} thread replies, {len(calls)} Web API calls in all "
              f"({len(posts) - len(replies)} / {seconds:.2f}s = {(len(posts) - len(replies)) / seconds:,.1f} cards/s "
              f"with their replies)")

        # Escalations: E critical incidents opened an hour ago, all due now.
        crit = [Signal(text=f"{s.text} critical {i}", tenant="default", title=f"{s.title} #{i}", service=s.service,
                       source="alertmanager", severity="critical", labels={**s.labels, "n": str(i)}, time=s.time,
                       external_id=f"crit:{i}")
                for i, s in enumerate(alerts(args.escalations, args.escalations, base, "critical"))]
        decide(on, crit)
        calls_before = len(api.calls())
        started = time.perf_counter()
        posted = 0
        while (n := run_escalations(deps, "bench", datetime.now(UTC))):
            posted += n
        seconds = time.perf_counter() - started
        esc_posts = [c for c in api.calls()[calls_before:] if c.method == "chat.postMessage"]
        print(f"escalate  {posted} escalations ({len(esc_posts)} posts) in {seconds:.2f}s: "
              f"{posted / seconds:,.1f}/s")
        on.close()
    api.stop()


if __name__ == "__main__":
    main()
