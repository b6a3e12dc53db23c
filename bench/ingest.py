"""Ingest throughput through the real intake path, and through the `ballast ingest` CLI.

What it measures (signals per second, model already loaded unless stated):

  repeat-90   a stream where 90% of signals repeat an earlier one modulo numbers, hosts, ids and pod
              names (masking makes them exact repeats) and 10% are new texts, fed to `Intake.process`
              in batches of `BALLAST_INGEST_BATCH` (256) exactly as `ballast ingest` does.
              Target: >= 1,000 signals/s on 2 cores.
  all-novel   every signal is a text not seen before, so every one is embedded and searched.
              Printed next to the embedder's raw rate (the backend's `embed`, batch 64, no cache) on
              the same masked texts, measured in the same run: the ratio is what intake costs on
              top of the model.
  columns     "embedded" texts the model saw and its seconds ("model s"); "other ms/sig" is
              everything else per signal (SQL, masking, search, ORM); "searches" counts vector
              searches.
  CLI         `ballast --data-dir TMP ingest FILE --json` in a subprocess on the repeat-90 stream,
              wall time from spawn to exit (interpreter start, imports, migrations, model load all
              included), next to the rate the command itself reports on stderr.

How: signals come from ~50 alert and log templates (Alertmanager-style alerts with labels, and
application, Kubernetes, database and proxy log lines) filled with random numbers, hosts, IPs,
UUIDs, hex ids and generated pod names. A "new" signal also draws the template's words (service,
table, endpoint, queue...), so its masked text is unique; a repeat keeps those words and redraws
only the volatile parts. Everything runs on the real stack: the MiniLM embedder (`--backend`, by
default what `BALLAST_EMBEDDER=auto` picks in `ballast serve`, with the int8 ONNX backend as a
same-run baseline; the CLI run uses what `auto` picks for a CLI command), Qdrant
Edge and SQLite, all in a temporary data dir. The machine is shared, so the ratios to the raw
embedder rate measured in the same run matter more than the absolute numbers.

    .venv/bin/python bench/ingest.py            # 10,000 repeat-90 signals, 1,024 novel, CLI on 5,000
    .venv/bin/python bench/ingest.py --quick    # 3,000 / 512 / 2,000

The other bench scripts import `SignalGenerator` from here for their alert-like texts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, also when Ballast is not installed
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

def describe() -> str:
    """When and on what code a run happened, for the first line of every bench table."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT, check=True).stdout.strip()
        code = f"commit {head}" + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        code = "not a git checkout"
    load = f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {code}  cores={os.cpu_count()}  {load}"


# --------------------------------------------------------------------------------------------
# Realistic alert and log lines
# --------------------------------------------------------------------------------------------

SERVICES = ["checkout", "payments", "cart", "search", "auth", "billing", "inventory", "shipping", "catalog",
            "orders", "notifications", "gateway", "ledger", "recommendations", "profile", "sessions", "pricing",
            "fraud-check", "media", "reports", "scheduler", "webhooks", "tax", "coupons", "reviews", "identity",
            "accounts", "invoicing", "loyalty", "geo", "mailer", "export", "importer", "audit", "feature-flags",
            "quota", "rate-limiter", "thumbnailer", "indexer", "analytics"]
NAMESPACES = ["prod", "production", "shop", "platform", "payments", "core", "edge", "data", "internal", "batch"]
TABLES = ["orders", "users", "line_items", "payments", "sessions", "invoices", "events", "audit_log", "carts",
          "products", "shipments", "refunds", "coupons", "accounts", "tokens", "webhooks", "jobs", "prices"]
ENDPOINTS = ["/api/v1/orders", "/api/v1/cart/items", "/api/v2/checkout", "/login", "/oauth/token",
             "/api/v1/search", "/api/v1/payments/capture", "/healthz", "/api/v1/users/me", "/graphql",
             "/api/v1/invoices", "/api/v1/shipments/track", "/api/v2/prices", "/metrics", "/api/v1/refunds"]
QUEUES = ["order-events", "payment-events", "email-outbox", "search-reindex", "audit", "webhook-deliveries",
          "invoice-render", "stock-updates", "fraud-scores", "notifications"]
DISKS = ["/", "/var/lib/postgresql", "/var/lib/docker", "/data", "/var/log", "/mnt/kafka", "/srv/elasticsearch"]
EXCEPTIONS = ["NullPointerException", "IllegalStateException", "TimeoutException", "SocketTimeoutException",
              "ConnectionResetError", "KeyError", "ValueError", "OutOfMemoryError", "SQLTransientConnectionException",
              "BrokenPipeError", "DeadlineExceeded", "PermissionDenied", "UnavailableException"]
UPSTREAMS = ["redis", "postgres-primary", "postgres-replica", "kafka", "elasticsearch", "stripe-api", "s3",
             "memcached", "rabbitmq", "vault", "ldap", "smtp-relay", "clickhouse", "mongodb"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"]
_K8S = "bcdfghjklmnpqrstvwxz2456789"

# Each template: (kind, text, extra) where kind is "log" or "alert". In the text, {svc} {tbl} {ep} {q}
# {disk} {exc} {up} {region} {ns} are the template's *words* (fixed per incident) and {n} {n2} {ms}
# {pct} {host} {ip} {pod} {uuid} {hex} {port} {ts} are volatile (redrawn on every repeat).
LOG_TEMPLATES = [
    "ERROR [{svc}] request {uuid} failed: upstream {up} timed out after {ms}ms",
    "WARN {svc}: slow query on {tbl} took {ms}ms (rows={n}) trace_id={hex}",
    "{ts} ERROR {svc}-{pod} {exc}: Connection refused to {ip}:{port}",
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure, "
    "upstream {up} at {ip}:{port} for {ep}",
    "kernel: Out of memory: Killed process {n} ({svc}) total-vm:{n2}kB, anon-rss:{n}kB",
    "{ts} {host} {svc}[{n}]: {exc} in handler for POST {ep} (request_id={uuid})",
    "FATAL: remaining connection slots are reserved for non-replication superuser connections "
    "(db={tbl} client={ip})",
    "ERROR: deadlock detected on relation {tbl}: process {n} waits for ShareLock on transaction {n2}",
    "{svc} consumer lag on topic {q} partition {n} is {n2} messages (group {svc}-workers)",
    "Back-off restarting failed container {svc} in pod {pod} (namespace {ns}), restart count {n}",
    "Readiness probe failed: Get \"http://{ip}:{port}/healthz\": context deadline exceeded ({svc})",
    "disk usage on {host} mount {disk} at {pct}% ({n} GiB free)",
    "TLS handshake error from {ip}:{port}: remote error: tls: bad certificate ({svc} ingress)",
    "{svc}: circuit breaker OPEN for {up} after {n} consecutive failures in {ms}ms",
    "GET {ep} 502 {ms}ms upstream={svc} ip={ip} req={hex}",
    "{svc} job {hex} failed after {n} attempts: {exc}: quota exceeded in {region}",
    "redis: LOADING Redis is loading the dataset in memory ({svc} cache {host}, {pct}% done)",
    "java.lang.{exc}: Cannot invoke \"{svc}.Client.send()\" because \"conn\" is null at worker-{n}",
    "{ts} {svc} rate limit exceeded for tenant {uuid}: {n} req/s over quota of {n2} on {ep}",
    "ERROR {svc}: could not serialize access due to concurrent update on {tbl} (xid {n})",
    "{svc}: certificate for {svc}.{region}.internal expires in {n} days (serial {hex})",
    "Node {host} condition MemoryPressure is True since {ts} ({svc} evicted {n} pods)",
    "pg_basebackup: error: could not connect to {up} at {ip}: FATAL: password authentication failed",
    "{svc} worker {pod} panicked: runtime error: index out of range [{n}] with length {n2}",
    "S3 PutObject to bucket {svc}-{region} failed: SlowDown (request {hex}, {ms}ms)",
    "{svc}: message {uuid} from queue {q} moved to dead letter after {n} deliveries",
    "nginx: upstream timed out (110: Connection timed out) while reading response header from upstream, "
    "client: {ip}, server: {svc}, request: \"GET {ep} HTTP/1.1\"",
    "elasticsearch: [{svc}-index-{n}] shard {n2} failed, reason [{exc}] on node {host}",
]
ALERT_TEMPLATES = [
    ("HighErrorRate", "{svc} 5xx error rate is {pct}% over the last 5m on {ep}"),
    ("HighLatencyP99", "{svc} p99 latency {ms}ms above SLO of {n}ms in {region}"),
    ("KubePodCrashLooping", "Pod {ns}/{pod} ({svc}) is restarting {n} times / 10 minutes"),
    ("KubeDeploymentReplicasMismatch", "Deployment {ns}/{svc} has not matched the expected number of "
                                      "replicas for 15 minutes ({n}/{n2} available)"),
    ("NodeFilesystemSpaceFillingUp", "Filesystem {disk} on {host} is predicted to run out of space within "
                                     "{n} hours ({pct}% used)"),
    ("PostgresReplicationLag", "Replica {host} of {tbl} cluster is {n}s behind the primary"),
    ("PostgresTooManyConnections", "{svc} database at {ip} uses {pct}% of max_connections"),
    ("KafkaConsumerGroupLag", "Consumer group {svc}-workers lags {n} messages on {q}"),
    ("TargetDown", "{pct}% of the {svc} targets in {ns} are down ({ip}:{port})"),
    ("CertificateExpiringSoon", "TLS certificate of {svc}.{region}.example.com expires in {n} days"),
    ("KubeContainerOOMKilled", "Container {svc} in pod {ns}/{pod} was OOMKilled (limit {n}Mi)"),
    ("RedisMemoryHigh", "Redis {up} on {host} uses {pct}% of maxmemory ({n} MiB)"),
    ("ProbeFailed", "Blackbox probe of https://{svc}.example.com{ep} failing from {region} for {n}m"),
    ("HPAMaxedOut", "HPA {ns}/{svc} has been running at max replicas ({n}) for {n2} minutes"),
    ("QueueDepthHigh", "Queue {q} depth is {n} messages, oldest {n2}s ({svc})"),
    ("JobFailed", "CronJob {ns}/{svc}-{tbl}-sync failed {n} times in a row (last exit code {n2})"),
    ("ErrorBudgetBurn", "{svc} is burning its 30d error budget {n}x faster than allowed ({pct}% left)"),
    ("DNSResolutionFailures", "{svc} pods in {region} fail {pct}% of DNS lookups for {up}"),
    ("DiskIOSaturation", "Disk IO on {host} {disk} saturated at {pct}% for {n} minutes"),
    ("CPUThrottlingHigh", "{pct}% throttling of CPU in namespace {ns} for container {svc} in pod {pod}"),
    ("UpstreamUnavailable", "{svc} cannot reach {up}: {n} failed checks since {ts}"),
    ("ReplicaSetUnavailable", "{svc} ReplicaSet {pod} has {n} unavailable replicas in {region}"),
]
WORD_SLOTS = {"svc": SERVICES, "tbl": TABLES, "ep": ENDPOINTS, "q": QUEUES, "disk": DISKS, "exc": EXCEPTIONS,
              "up": UPSTREAMS, "region": REGIONS, "ns": NAMESPACES}
HOST_SCHEMES = ["ec2", "node", "db", "cache", "worker", "kafka"]
# Alert label names for the template words (the service and namespace labels are always set).
LABEL_NAMES = {"tbl": "table", "ep": "route", "q": "topic", "disk": "mount", "exc": "exception",
               "up": "upstream", "region": "region"}
_SLOT = re.compile(r"\{(\w+)\}")


class SignalGenerator:
    """Ingest-line dicts (CONTRACT.md format) for realistic alert and log streams, seeded."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self._incidents: list[tuple[str, str, str | None, dict[str, str]]] = []
        self._used: set[tuple[str, ...]] = set()
        self._serial = 0

    # volatile parts -------------------------------------------------------------------------
    def _volatile(self, slot: str, words: dict[str, str]) -> str:
        r = self.rng
        if slot == "n":
            return str(r.randint(1, 5000))
        if slot == "n2":
            return str(r.randint(1, 200000))
        if slot == "ms":
            return str(r.randint(50, 30000))
        if slot == "pct":
            return f"{r.uniform(50, 100):.1f}"
        if slot == "port":
            return str(r.choice([80, 443, 5432, 6379, 8080, 9092, 9200, r.randint(1024, 65535)]))
        if slot == "ip":
            return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        if slot == "host":  # one naming scheme per incident, numbers redrawn
            scheme = words.get("hosts", "ec2")
            if scheme == "ec2":
                return f"ip-10-{r.randint(0, 255)}-{r.randint(0, 255)}-{r.randint(1, 254)}.ec2.internal"
            if scheme == "node":
                return f"node-{r.randint(1, 99):02d}.k8s.{words.get('region', 'us-east-1')}"
            return f"{scheme}-{r.randint(1, 12):02d}.prod.internal"
        if slot == "pod":
            rs = "".join(r.choice(_K8S) for _ in range(r.choice([9, 10])))
            suffix = "".join(r.choice(_K8S) for _ in range(5))
            return f"{words.get('svc', 'app')}-{rs}-{suffix}"
        if slot == "uuid":
            return "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
                                                  r.getrandbits(16), r.getrandbits(48))
        if slot == "hex":
            return "%016x" % r.getrandbits(64)
        if slot == "ts":
            return (f"2026-11-{r.randint(1, 27):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
                    f"{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z")
        raise KeyError(slot)

    def _fill(self, template: str, words: dict[str, str]) -> str:
        return _SLOT.sub(lambda m: words[m.group(1)] if m.group(1) in words else self._volatile(m.group(1), words),
                         template)

    # incidents ------------------------------------------------------------------------------
    def _new_incident(self) -> tuple[str, str, str | None, dict[str, str]]:
        r = self.rng
        for _ in range(1000):
            if r.random() < 0.55:
                kind, alertname, template = "log", None, r.choice(LOG_TEMPLATES)
            else:
                kind = "alert"
                alertname, template = r.choice(ALERT_TEMPLATES)
            words = {slot: r.choice(WORD_SLOTS[slot]) for slot in WORD_SLOTS}
            used = tuple(sorted(m for m in set(_SLOT.findall(template)) if m in WORD_SLOTS))
            key = (template, *(words[s] for s in used))
            if key not in self._used:
                self._used.add(key)
                # keep only the words this template uses (plus svc/region for pods and hosts)
                kept = {s: words[s] for s in (*used, "svc", "region", "ns")}
                kept["hosts"] = r.choice(HOST_SCHEMES)
                # An alert series keeps its scrape target; its pod name changes on every restart.
                kept["instance"] = f"{self._volatile('ip', kept)}:{self._volatile('port', kept)}"
                incident = (kind, template, alertname, kept)
                self._incidents.append(incident)
                return incident
        raise RuntimeError("word space exhausted")

    def _line(self, incident: tuple[str, str, str | None, dict[str, str]]) -> dict[str, Any]:
        kind, template, alertname, words = incident
        self._serial += 1
        text = self._fill(template, words)
        line: dict[str, Any] = {"id": f"sig-{self._serial}", "text": text}
        if kind == "alert":
            r = self.rng
            line["source"] = "alertmanager"
            line["title"] = f"{alertname} {words['svc']}"
            line["labels"] = {
                "alertname": alertname or "", "service": words["svc"], "namespace": words.get("ns", "prod"),
                "severity": r.choice(["warning", "critical"]),
                "instance": words["instance"],
                "pod": self._volatile("pod", words),
            }
            used = set(_SLOT.findall(template))
            line["labels"].update({LABEL_NAMES[s]: words[s] for s in LABEL_NAMES if s in used})
        else:
            line["source"] = self.rng.choice(["fluentbit", "vector", "journald", "loki"])
            line["service"] = words["svc"]
        return line

    def novel(self) -> dict[str, Any]:
        return self._line(self._new_incident())

    def repeat(self) -> dict[str, Any]:
        return self._line(self.rng.choice(self._incidents))

    def stream(self, n: int, repeat_share: float) -> list[dict[str, Any]]:
        """`n` lines in which about `repeat_share` repeat an earlier incident (the first is always new)."""
        out = []
        for i in range(n):
            if i == 0 or not self._incidents or self.rng.random() >= repeat_share:
                out.append(self.novel())
            else:
                out.append(self.repeat())
        return out


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


def _services(home: Path, embedder: Any = None, embed_ahead: bool = False, backend: str = "auto") -> Any:
    from bot.app import build_services
    from bot.settings import Settings

    return build_services(Settings(BALLAST_HOME=home, BALLAST_EMBED_AHEAD=embed_ahead, BALLAST_EMBEDDER=backend),
                          embedder)


class _Clock:
    """Wraps `obj.<name>` to count its calls and items and the seconds it spends."""

    def __init__(self, obj: Any, name: str) -> None:
        self.calls = 0
        self.items = 0
        self.seconds = 0.0
        self._fn = getattr(obj, name)
        setattr(obj, name, self)

    def __call__(self, first: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self._fn(first, *args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        self.items += len(first) if isinstance(first, list) else 1
        return out


def run_intake(lines: list[dict[str, Any]], batch: int, home: Path, ahead: bool = True,
               backend: str = "auto") -> dict[str, Any]:
    """Feed `lines` to a fresh data dir's Intake in batches; model loaded and warmed first.

    `ahead`: BALLAST_EMBED_AHEAD on, and as `ballast ingest` does, the next batch is handed to
    `Intake.prefetch` before the current one is processed, so its new texts are embedded while this
    batch's SQL runs. Without it (the default setting) every batch embeds in line (the serial run).
    """
    from retrieval.signal import signal_from_mapping

    svc = _services(home, embed_ahead=ahead, backend=backend)
    intake = svc.intake
    t0 = time.perf_counter()
    intake.embedder.embed(["warm-up text for the embedder"])  # loads the model (not timed below)
    wait_loaded(intake.embedder.model)
    load_s = time.perf_counter() - t0
    clock = _Clock(intake.embedder.model, "embed")
    # The background thread's one-thread session (loaded here, before the timing) is counted too.
    background = getattr(intake.embedder, "background_model", None)
    clock_bg = _Clock(background, "embed") if background is not None and background is not intake.embedder.model else None
    searches = _Clock(intake.index, "search")
    signals = [signal_from_mapping(line, max_text_chars=svc.settings.max_text_chars) for line in lines]
    ids = [line["id"] for line in lines]
    decisions: Counter[str] = Counter()
    t0 = time.perf_counter()
    for start in range(0, len(signals), batch):
        if ahead and start + batch < len(signals):
            intake.prefetch(signals[start + batch:start + 2 * batch])
        for result in intake.process(signals[start:start + batch], ids[start:start + batch]):
            decisions[result.decision] += 1
    elapsed = time.perf_counter() - t0
    svc.close()
    n = len(lines)
    model_s = clock.seconds + (clock_bg.seconds if clock_bg else 0.0)
    embedded = clock.items + (clock_bg.items if clock_bg else 0)
    rest = max(elapsed - model_s, 1e-9)
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "decisions": decisions, "load_s": load_s, "ahead": ahead,
            "embedded": embedded, "model_s": model_s, "rest_ms": 1000 * rest / n,
            "searches": searches.calls, "search_s": searches.seconds}


def wait_loaded(model: Any) -> None:
    """`onnx+bf16` loads its PyTorch side in the background: measure once both are up."""
    wait = getattr(model, "wait_loaded", None)
    if wait is not None:
        wait()


def raw_embedder_rate(texts: list[str], backend: str) -> float:
    """texts/s of the bare model (no cache), batch 64, after one warm-up call."""
    from retrieval.embedder import load_embedder

    model = load_embedder(backend)
    wait_loaded(model)
    model.embed(texts[:64])
    t0 = time.perf_counter()
    for start in range(0, len(texts), 64):
        model.embed(texts[start:start + 64])
    return len(texts) / (time.perf_counter() - t0)


def run_cli(lines: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    path = workdir / "stream.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    exe = ROOT / ".venv" / "bin" / "ballast"
    if not exe.exists():  # a checkout run with another environment's interpreter
        exe = Path(sys.executable).parent / "ballast"
    cmd = [str(exe), "--data-dir", str(workdir / "cli-home"), "ingest", str(path), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, also over an editable install
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, check=False, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ballast ingest failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    out_lines = proc.stdout.splitlines()
    decisions = Counter(json.loads(x)["decision"] for x in out_lines)
    m = re.search(r"ingest: (\d+) lines in ([\d.]+)s", proc.stderr)
    inner = (int(m.group(1)) / float(m.group(2))) if m and float(m.group(2)) > 0 else float("nan")
    return {"n": len(lines), "out": len(out_lines), "wall": wall, "rate": len(lines) / wall, "inner_rate": inner,
            "decisions": decisions}


def _fmt_decisions(c: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(c.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller streams (about a minute)")
    parser.add_argument("--no-cli", action="store_true", help="skip the subprocess CLI measurement")
    parser.add_argument("--backend", default="auto",
                        help="BALLAST_EMBEDDER for the intake runs (default: auto, resolved as `ballast serve` does)")
    args = parser.parse_args()
    n_repeat, n_novel, n_cli = (3000, 512, 2000) if args.quick else (10_000, 1024, 5000)
    batch = 256

    from bot.intake import prepare
    from retrieval.embedder import resolve_backend
    from retrieval.signal import signal_from_mapping

    gen = SignalGenerator(seed=11)
    repeat_stream = gen.stream(n_repeat, 0.9)
    novel_stream = SignalGenerator(seed=23).stream(n_novel, 0.0)
    novel_masked = [prepare(signal_from_mapping(x, max_text_chars=16000)).masked for x in novel_stream]
    print(f"# ballast bench/ingest.py  {describe()}  batch={batch}")
    print(f"# novel masked texts unique: {len(set(novel_masked))}/{len(novel_masked)}")

    backend = resolve_backend(args.backend, long_running=True)
    baseline = "onnx" if backend != "onnx" else None
    print(f"# embedder: {backend}" + (f" (baseline in the same run: {baseline})" if baseline else ""))
    with tempfile.TemporaryDirectory(prefix="ballast-bench-") as tmp:
        tmpdir = Path(tmp)
        raw = raw_embedder_rate(novel_masked, backend)
        rep = run_intake(repeat_stream, batch, tmpdir / "repeat", backend=backend)
        rep_serial = run_intake(repeat_stream, batch, tmpdir / "repeat-serial", ahead=False, backend=backend)
        nov = run_intake(novel_stream, batch, tmpdir / "novel", backend=backend)
        nov_serial = run_intake(novel_stream, batch, tmpdir / "novel-serial", ahead=False, backend=backend)
        raw_after = raw_embedder_rate(novel_masked, backend)
        base = None
        if baseline:
            base = (run_intake(repeat_stream, batch, tmpdir / "repeat-base", ahead=False, backend=baseline),
                    run_intake(novel_stream, batch, tmpdir / "novel-base", ahead=False, backend=baseline),
                    raw_embedder_rate(novel_masked, baseline))
        cli = None if args.no_cli else run_cli(SignalGenerator(seed=31).stream(n_cli, 0.9), tmpdir)

    raw_mean = (raw + raw_after) / 2
    print(f"{'measurement':<26} {'signals':>7} {'seconds':>7} {'per s':>6}  {'embedded':>8} {'model s':>7} "
          f"{'other ms/sig':>12} {'searches':>8}  notes")
    rows = [("intake repeat-90", rep_serial, "target >= 1000/s (default: model in line)"),
            ("  BALLAST_EMBED_AHEAD=1", rep, f"{rep['rate'] / rep_serial['rate']:.2f}x the default"),
            ("intake all-novel", nov_serial, f"{nov_serial['rate'] / raw_mean:.2f}x the raw model rate"),
            ("  BALLAST_EMBED_AHEAD=1", nov, f"{nov['rate'] / raw_mean:.2f}x the raw model rate")]
    if base is not None:
        rows += [(f"  repeat-90, {baseline}", base[0], f"{rep_serial['rate'] / base[0]['rate']:.2f}x: {backend} vs {baseline}"),
                 (f"  all-novel, {baseline}", base[1], f"{nov_serial['rate'] / base[1]['rate']:.2f}x: {backend} vs {baseline}; "
                                                     f"{base[1]['rate'] / base[2]:.2f}x {baseline}'s raw rate")]
    for name, r, note in rows:
        # Embedding ahead, model time runs on another thread alongside the rest: no "other" share.
        other = f"{r['rest_ms']:>12.2f}" if not r["ahead"] else f"{'(overlaps)':>12}"
        print(f"{name:<26} {r['n']:>7} {r['seconds']:>7.2f} {r['rate']:>6.0f}  {r['embedded']:>8} "
              f"{r['model_s']:>7.2f} {other} {r['searches']:>8}  {note}; "
              f"{_fmt_decisions(r['decisions'])}")
    print(f"{'raw embed, batch 64':<26} {len(novel_masked):>7} {len(novel_masked) / raw_mean:>7.2f} "
          f"{raw_mean:>6.0f}  {len(novel_masked):>8} {len(novel_masked) / raw_mean:>7.2f} {0:>12.2f} {0:>8}  "
          f"{backend}, no cache; runs before/after the intake runs: {raw:.0f} / {raw_after:.0f} texts/s"
          + (f"; {baseline}: {base[2]:.0f} texts/s" if base is not None else ""))
    if cli is not None:
        print(f"{'CLI ingest --json, wall':<26} {cli['n']:>7} {cli['wall']:>7.2f} {cli['rate']:>6.0f}  "
              f"{'':>8} {'':>7} {'':>12} {'':>8}  spawn to exit, embedder {resolve_backend('auto')}; "
              f"the command's own count: {cli['inner_rate']:.0f}/s; "
              f"{_fmt_decisions(cli['decisions'])}")
    distinct = len({prepare(signal_from_mapping(x, max_text_chars=16000)).fingerprint for x in repeat_stream})
    print(f"# repeat-90: {distinct} distinct exact keys among {rep['n']} signals, {rep['searches']} vector searches "
          f"({rep['search_s']:.2f}s): a key folded into another incident by similarity is searched again on "
          f"every repeat")
    share = rep["embedded"] / rep["n"]
    print(f"# repeat-90 embeds {share:.1%} of its signals: at the raw model rate alone the ceiling is "
          f"{raw_mean / share:.0f} signals/s; without the model time (serial run) intake runs at "
          f"{1000 / rep_serial['rest_ms']:.0f} signals/s")
    print(f"# repeat-90 in line: {rep_serial['model_s']:.2f}s model + {rep_serial['seconds'] - rep_serial['model_s']:.2f}s rest; "
          f"embedding ahead: {rep['model_s']:.2f}s in the model (background thread) within {rep['seconds']:.2f}s wall")
    print(f"# model load in-process ({backend}, first embed): {rep['load_s']:.2f}s, excluded from the intake rates")


if __name__ == "__main__":
    main()
