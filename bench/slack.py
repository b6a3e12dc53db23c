"""Slack app under load: ack times for concurrent signed slash commands, and posting through a 429 storm.

On loopback only: the Slack route (the real Bolt app in FastAPI under uvicorn, SQLite and embedded
Qdrant in a temp dir, the hash embedder from the tests) runs in its own process, as in production,
with the worker pool deciding the inbox and the scheduler's outbox job posting, and talks to the
fake Slack Web API in this one; the senders here each keep one connection.

  acks     N concurrent signed `/incident` commands (one thread and one connection each): p50/p99
           time to the HTTP answer (goal p99 < 300 ms; Slack allows 3 s), and how long until every
           card is posted.
  storm    M incidents filed while the fake answers the next K calls with 429 (Retry-After: 0,
           slack_sdk adds up to 1 s jitter per retry): cards posted per second, and lost ones (goal 0).

    .venv/bin/python bench/slack.py                  # 50 commands, 40 cards through 200 429s
    .venv/bin/python bench/slack.py --commands 100 --storm 400
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
import socket  # noqa: E402
import subprocess  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.config import EMPTY  # noqa: E402
from bot.scheduler import build_scheduler  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.slack.app import build_slack_app  # noqa: E402
from bot.slack.http import mount_slack  # noqa: E402
from bot.worker import WorkerPool  # noqa: E402
from tests.fakes.embedder import HashEmbedder  # noqa: E402
from tests.fakes.slack_api import FakeSlackAPI  # noqa: E402
from tests.slack.conftest import SECRET, sign  # noqa: E402

COMMAND = os.environ.get("BENCH_SLACK_COMMAND", "/incident")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "de", "pa", "zu", "ge", "bo", "fi", "hu", "ja"]


def word(n: int) -> str:
    """A made-up word per number (masking keeps letters, so each report stays its own incident)."""
    out = ""
    for _ in range(4):
        out += SYLLABLES[n % len(SYLLABLES)]
        n //= len(SYLLABLES)
    return out


def report_text(i: int) -> str:
    """Distinct reports: each lands in its own incident, so each posts one card."""
    return " ".join(word(i * prime + 11) for prime in (7919, 104729, 1299709, 15485863, 179424673))


def command(base: str, api: FakeSlackAPI, text: str, n: int, clients: dict[int, httpx.Client],
            start: threading.Barrier | None = None) -> float:
    """One signed /incident; the time from sending to the ack (each thread reuses its connection)."""
    body = urlencode({"team_id": "T1", "channel_id": "C0BENCH", "user_id": "U1", "command": COMMAND,
                      "text": text, "trigger_id": f"bench-{n}-{time.time_ns()}", "response_url": api.response_url(str(n))})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    client = clients.get(threading.get_ident())
    if client is None:
        client = clients[threading.get_ident()] = httpx.Client(timeout=30)
        client.get(f"{base}/ready")  # open the connection before the clock starts
    if start is not None:
        start.wait()
    started = time.perf_counter()
    response = client.post(f"{base}/slack/events", content=body, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def cards(api: FakeSlackAPI) -> list[dict[str, object]]:
    return [m for m in api.posts("C0BENCH") if not m.get("thread_ts")]


def wait_cards(api: FakeSlackAPI, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(cards(api)) >= count:
            return True
        time.sleep(0.01)
    return False


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def serve(port: int, home: Path, api_url: str) -> None:
    """The server process: the Slack route alone, on `port`."""
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(BALLAST_HOME=home, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET,
                        SLACK_API_URL=api_url)
    services = build_services(settings, embedder=HashEmbedder())
    web = FastAPI()
    mount_slack(web, build_slack_app(services, token_verification_enabled=False))
    # As `ballast serve`: reports are committed to the inbox, decided by the workers, posted by the outbox job.
    WorkerPool(services, threads=settings.workers, batch=settings.worker_batch).start()
    build_scheduler(services, EMPTY).start()

    @web.get("/ready")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning")


def start_server(api: FakeSlackAPI) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="ballast-bench-slack-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SLACK_"))}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--home", str(home), "--api", api.url],
                            env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/ready", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the Slack server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--storm", type=int, default=200, help="429 answers in the storm")
    parser.add_argument("--storm-cards", type=int, default=40)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.home, args.api)
        return
    logging.basicConfig(level=logging.WARNING)

    api = FakeSlackAPI().start()
    proc, base = start_server(api)
    clients: dict[int, httpx.Client] = {}
    command(base, api, "warm-up report of nothing in particular", -1, clients)  # auth.test, engine, index
    wait_cards(api, 1, 60)

    n = args.commands
    started = time.perf_counter()
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        acks = list(pool.map(lambda i: command(base, api, report_text(i), i, clients, barrier), range(n)))
    all_posted = wait_cards(api, n + 1, 120)
    drained = time.perf_counter() - started
    print(f"acks      {n} concurrent signed /incident: p50 {statistics.median(acks) * 1000:.0f} ms, "
          f"p99 {pct(acks, 0.99) * 1000:.0f} ms, max {max(acks) * 1000:.0f} ms (goal p99 < 300 ms)")
    print(f"          every card posted: {all_posted}, after {drained:.2f} s")

    before = len(cards(api))
    api.state.rate_limited, api.state.retry_after = args.storm, 0
    m = args.storm_cards
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: command(base, api, report_text(10_000 + i), 10_000 + i, {}), range(m)))
    complete = wait_cards(api, before + m, 600)
    elapsed = time.perf_counter() - started
    posted = len(cards(api)) - before
    keys = [str((c.get("metadata") or {}).get("event_payload")) for c in cards(api)]  # type: ignore[union-attr]
    print(f"storm     {m} cards through {api.state.limited_calls} answers of 429: {posted} posted in {elapsed:.2f} s "
          f"= {posted / elapsed:.1f} messages/s, lost {m - posted}, posted twice {len(keys) - len(set(keys))}")
    proc.terminate()
    proc.wait(30)
    api.stop()


if __name__ == "__main__":
    main()
