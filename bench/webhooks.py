"""Webhook intake under load: `ballast serve` against a real Prometheus Alertmanager, same alerts, same senders.

What it measures, on loopback only, with 16 concurrent senders (by default 16 keep-alive
connections driven by one asyncio loop, one alert per request; `--client httpx` uses a thread
and an httpx client per sender instead, which on 2 cores takes more CPU than the server under test):

  ballast       POST /webhooks/alertmanager (payload version 4) to `ballast serve` on SQLite in a
                temp data dir: accepted alerts/s (answered 202, i.e. committed to the database)
                and p50/p95/p99 response time. Then how long the worker pool takes to decide the
                backlog (embedding with the real model, dedup, incidents).
  alertmanager  POST /api/v2/alerts of the same alerts to `prometheus-alertmanager` (Debian's
                package) started by this script on a free port: it keeps alerts in memory.

The ratio of the two rates is the headline. Goal: >= 1,000 accepted alerts/s, p99 < 100 ms.
Alertmanager itself groups alerts into one notification; `--per-request N` sends N alerts per
request to both targets (the default, 1, is the strictest case).

    .venv/bin/python bench/webhooks.py                 # 20,000 alerts or 30 s per target
    .venv/bin/python bench/webhooks.py --count 5000    # quicker
    .venv/bin/python bench/webhooks.py --per-request 10
    .venv/bin/python bench/webhooks.py --client httpx  # the heavier client
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# standard library's `http` package (which httpx imports): drop that folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALERTNAMES = ["HighLatency", "HighErrorRate", "PodCrashLooping", "DiskFillingUp", "CPUThrottling", "OOMKilled",
              "TargetDown", "CertificateExpiry", "QueueBacklog", "ReplicationLag", "NodeNotReady", "5xxSpike"]
SERVICES = ["checkout", "payments", "cart", "search", "auth", "billing", "inventory", "gateway", "ledger", "orders"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_alerts(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` distinct firing alerts (Alertmanager's alert shape) over a few names, services and instances."""
    rng = random.Random(seed)
    started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alerts = []
    for i in range(count):
        name, service = rng.choice(ALERTNAMES), rng.choice(SERVICES)
        labels = {"alertname": name, "service": service, "severity": rng.choice(["warning", "critical"]),
                  "namespace": "prod", "instance": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:9100"}
        annotations = {"summary": f"{name} on {service}",
                       "description": f"{service} {name}: value {rng.randint(1, 999)} over threshold for 5m"}
        alerts.append({"labels": labels, "annotations": annotations, "startsAt": started,
                       "generatorURL": f"http://prometheus.local/graph?g0.expr={name}"})
    return alerts


def webhook_body(alerts: list[dict[str, Any]], first: int) -> bytes:
    """One Alertmanager notification (payload version 4) carrying `alerts`."""
    body = {"version": "4", "status": "firing", "receiver": "ballast", "groupKey": f"{{}}:{{group=\"{first}\"}}",
            "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.local",
            "alerts": [{**a, "status": "firing", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"{first + k:016x}"}
                       for k, a in enumerate(alerts)]}
    return json.dumps(body).encode()


def chunks(alerts: list[dict[str, Any]], size: int) -> list[tuple[int, list[dict[str, Any]]]]:
    return [(i, alerts[i : i + size]) for i in range(0, len(alerts), size)]


def flood(url: str, bodies: list[bytes], senders: int, seconds: float, ok: int, per_request: int = 1) -> dict[str, Any]:
    """Send every body once (or until `seconds`), from `senders` threads; latency of each accepted request."""
    latencies: list[list[float]] = [[] for _ in range(senders)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds

    def sender(slot: int) -> None:
        with httpx.Client(timeout=30, headers={"content-type": "application/json"}) as client:
            while time.monotonic() < deadline:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    code = client.post(url, content=bodies[i]).status_code
                except httpx.HTTPError:
                    code = 0
                took = time.perf_counter() - t0
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1
                if code == ok:
                    latencies[slot].append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return _summary([x for row in latencies for x in row], statuses, elapsed, per_request)


async def _raw_post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    """One HTTP/1.1 request on a kept-alive connection; the status code, after the whole answer is read."""
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


def flood_raw(url: str, bodies: list[bytes], senders: int, seconds: float, ok: int,
              per_request: int = 1) -> dict[str, Any]:
    """`flood` with a light client: `senders` keep-alive connections driven by one event loop.

    The httpx threads of `flood` spend more CPU per request than the server under test does; on a
    2-core machine that CPU is taken from the server. This client sends the same bytes over the
    same number of concurrent connections at a fraction of the cost.
    """
    parsed = httpx.URL(url)
    head = (f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cursor = iter(range(len(bodies)))

    async def sender(deadline: float) -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while time.monotonic() < deadline and (i := next(cursor, None)) is not None:
                t0 = time.perf_counter()
                try:
                    code = await _raw_post(reader, writer, head, bodies[i])
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    code = 0
                    writer.close()
                    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
                took = time.perf_counter() - t0
                statuses[code] = statuses.get(code, 0) + 1
                if code == ok:
                    latencies.append(took)
        finally:
            writer.close()

    async def run() -> float:
        started = time.perf_counter()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(sender(deadline) for _ in range(senders)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    return _summary(latencies, statuses, elapsed, per_request)


def _summary(latencies: list[float], statuses: dict[int, int], elapsed: float, per_request: int) -> dict[str, Any]:
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {"accepted": len(lat) * per_request, "statuses": statuses, "seconds": round(elapsed, 2),
            "per_second": round(len(lat) * per_request / elapsed, 1), "p50_ms": round(q[49] * 1000, 2),
            "p95_ms": round(q[94] * 1000, 2), "p99_ms": round(q[98] * 1000, 2)}


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer 200 within {timeout:.0f}s")


def queue_depth(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("ballast_inbox_queue_depth "):
            return float(line.split()[1])
    return float("nan")


def bench_ballast(alerts: list[dict[str, Any]], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SLACK_"))}
    env.update(BALLAST_HOME=str(tmp / "ballast"), BALLAST_QUEUE_MAX=str(max(100_000, 2 * len(alerts))),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    if args.database_url:
        env["BALLAST_DATABASE_URL"] = args.database_url
    if args.ack_synchronous:
        env["BALLAST_SQLITE_ACK_SYNCHRONOUS"] = args.ack_synchronous
    exe = Path(sys.executable).parent / "ballast"
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz", proc)
        bodies = [webhook_body(group, i) for i, group in chunks(alerts, args.per_request)]
        send = flood_raw if args.client == "raw" else flood
        result = send(f"{base}/webhooks/alertmanager", bodies, args.senders, args.seconds, 202, args.per_request)
        t0, depth = time.perf_counter(), queue_depth(base)
        while depth > 0 and time.perf_counter() - t0 < args.drain_seconds:
            time.sleep(0.5)
            depth = queue_depth(base)
        drained = time.perf_counter() - t0
        result["backlog_after_flood_s"] = round(drained, 1)
        result["backlog_left"] = depth
        proc.terminate()
        result["exit_on_sigterm"] = proc.wait(timeout=30)
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def bench_alertmanager(alerts: list[dict[str, Any]], args: argparse.Namespace, tmp: Path) -> dict[str, Any] | None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None
    port = free_port()
    config = tmp / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/-/ready", proc)
        bodies = [json.dumps(group).encode() for _, group in chunks(alerts, args.per_request)]
        send = flood_raw if args.client == "raw" else flood
        return send(f"{base}/api/v2/alerts", bodies, args.senders, args.seconds, 200, args.per_request)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="alerts per target")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop sending after this long")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--per-request", type=int, default=1, help="alerts per request (both targets)")
    parser.add_argument("--drain-seconds", type=float, default=120.0, help="longest wait for the backlog")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="BALLAST_DATABASE_URL for the server (default: SQLite in a temp dir); its inbox "
                             "should be empty, e.g. a fresh PostgreSQL schema")
    parser.add_argument("--ack-synchronous", choices=["FULL", "NORMAL"],
                        help="BALLAST_SQLITE_ACK_SYNCHRONOUS for the server (default: the server's, FULL)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="raw: keep-alive sockets on one event loop (light); httpx: a thread and client per sender")
    args = parser.parse_args()
    alerts = make_alerts(args.count)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ballast-bench-http-") as name:
        tmp = Path(name)
        ours = bench_ballast(alerts, args, tmp)
        theirs = bench_alertmanager(alerts, args, tmp)
    print(f"{args.count} alerts, {args.senders} senders ({args.client} client), {args.per_request} alert(s) per "
          f"request; load average before: {' '.join(f'{x:.2f}' for x in load)}, after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'target':<38} {'accepted/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    store = "PostgreSQL" if (args.database_url or "").startswith("postgres") else "SQLite"
    rows = [(f"ballast serve ({store}, committed)", ours)]
    if theirs is not None:
        rows.append(("alertmanager API v2 (in memory)", theirs))
    for label, r in rows:
        print(f"{label:<38} {r['per_second']:>10.0f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f}  "
              f"{r['statuses']}")
    print(f"ballast backlog decided {ours['backlog_after_flood_s']}s after the flood "
          f"(left: {ours['backlog_left']:.0f}); exit status on SIGTERM: {ours['exit_on_sigterm']}")
    if theirs is None:
        print("alertmanager: not installed (apt-get install prometheus-alertmanager): no comparison")
    else:
        print(f"ratio ballast/alertmanager: {ours['per_second'] / theirs['per_second']:.2f}")
    goal = ours["per_second"] >= 1000 and ours["p99_ms"] < 100
    print(f"goal (>= 1,000 accepted/s and p99 < 100 ms): {'met' if goal else 'NOT met'}")
    print(json.dumps({"ballast": ours, "alertmanager": theirs}))


if __name__ == "__main__":
    main()
