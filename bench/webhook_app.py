"""Server-side cost of one webhook: the HTTP app driven in-process, without sockets or a client.

Builds the real app (`create_app`, SQLite in a temp data dir, workers off so nothing else runs)
and sends it `--count` Alertmanager notifications of one alert each as raw ASGI calls from 16
concurrent tasks on one uvloop event loop. Prints requests/s and the process CPU per request
(this includes the inbox writer thread: parsing, validation, the group commit), for:

  webhook, FULL     POST /webhooks/alertmanager, the acknowledging commit fsynced (the default)
  webhook, NORMAL   the same with BALLAST_SQLITE_ACK_SYNCHRONOUS=NORMAL (no fsync per commit)
  GET /healthz      the same app's floor: middleware and routing, no body, no database

    .venv/bin/python bench/webhook_app.py [--count 5000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# standard library's `http` package: drop that folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.http import create_app  # noqa: E402
from bot.settings import Settings  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_webhooks", _HERE / "webhooks.py")
assert _spec is not None and _spec.loader is not None
_webhooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_webhooks)


def _scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}


async def _call(app: Any, method: str, path: str, body: bytes) -> int:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(_scope(method, path, body), receive, send)
    return status[0]


def measure(method: str, path: str, bodies: list[bytes], synchronous: str, senders: int = 16) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ballast-bench-app-") as home:
        settings = Settings(BALLAST_HOME=Path(home), BALLAST_QUEUE_MAX=10 * len(bodies),
                            BALLAST_SQLITE_ACK_SYNCHRONOUS=synchronous)
        services = build_services(settings)
        app = create_app(services, start_workers=False)

        async def run() -> tuple[float, float, int]:
            ok = 0
            async with app.router.lifespan_context(app):
                items = iter(bodies)

                async def sender() -> None:
                    nonlocal ok
                    for body in items:
                        status = await _call(app, method, path, body)
                        ok += status in (200, 202)

                wall, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(sender() for _ in range(senders)))
                return time.perf_counter() - wall, time.process_time() - cpu, ok

        import uvloop

        wall, cpu, ok = uvloop.run(run())
        services.close()
    return {"per_second": len(bodies) / wall, "cpu_us": 1e6 * cpu / len(bodies), "ok": ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the "no API keys" start-up warning, once per app
    bodies = [_webhooks.webhook_body(group, i) for i, group in _webhooks.chunks(_webhooks.make_alerts(args.count), 1)]
    load = os.getloadavg()
    rows = [("webhook, FULL", measure("POST", "/webhooks/alertmanager", bodies, "FULL")),
            ("webhook, NORMAL", measure("POST", "/webhooks/alertmanager", bodies, "NORMAL")),
            ("GET /healthz", measure("GET", "/healthz", [b""] * args.count, "FULL"))]
    print(f"{args.count} requests per row, 16 concurrent tasks, in-process; load average "
          f"{' '.join(f'{x:.2f}' for x in load)} -> {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'row':<18} {'requests/s':>10} {'CPU us/request':>15} {'answered 2xx':>13}")
    for label, r in rows:
        print(f"{label:<18} {r['per_second']:>10.0f} {r['cpu_us']:>15.0f} {r['ok']:>13.0f}")


if __name__ == "__main__":
    main()
