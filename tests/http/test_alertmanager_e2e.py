"""A real Prometheus Alertmanager posts to a real `ballast serve`: incidents appear, then resolve.

Alertmanager (Debian's `prometheus-alertmanager`) runs on a free loopback port with a webhook
receiver pointing at `ballast serve` (with an API key), group_wait and group_interval of 1 s.
Alerts go in through Alertmanager's API v2, firing and then resolved. Skipped when the binary
is missing, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.http.test_serve import Server, free_port

pytestmark = [pytest.mark.alertmanager, pytest.mark.model]
KEY = "e2e-key-123456"


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        message = "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return found


@pytest.fixture
def ballast(home: Path, tmp_path: Path) -> Iterator[Server]:
    server = Server(home, tmp_path / "serve.log", BALLAST_API_KEYS=f"ops:{KEY}")
    try:
        server.wait()
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.wait(10)


@pytest.fixture
def alertmanager(ballast: Server, tmp_path: Path) -> Iterator[str]:
    binary = alertmanager_binary()
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: ballast
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ballast
    webhook_configs:
      - url: {ballast.base}/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {KEY}
""")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Alertmanager did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def am_alert(name: str, service: str, *, ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "service": service, "severity": "critical", "namespace": "prod"},
        "annotations": {"summary": f"{name} on {service}", "description": f"{service}: {name} for 5 minutes"},
        "generatorURL": "http://prometheus.local/graph",
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return alert


def incidents(ballast: Server) -> dict[str, dict[str, Any]]:
    rows = httpx.get(f"{ballast.base}/api/v1/incidents", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert rows.status_code == 200
    return {row["title"]: row for row in rows.json()["incidents"]}


def wait_for(ballast: Server, check: Any, what: str, timeout: float = 60) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = incidents(ballast)
        if check(seen):
            return seen
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout}s; incidents: {seen}\n{ballast.log.read_text()[-3000:]}")


def test_alertmanager_to_ballast_fire_and_resolve(alertmanager: str, ballast: Server) -> None:
    firing = [am_alert("CheckoutLatencyHigh", "checkout"), am_alert("LedgerDiskFull", "ledger")]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=firing, timeout=10).status_code == 200
    seen = wait_for(ballast, lambda s: {"CheckoutLatencyHigh", "LedgerDiskFull"} <= set(s), "both incidents opened")
    for title, service in (("CheckoutLatencyHigh", "checkout"), ("LedgerDiskFull", "ledger")):
        assert seen[title]["status"] == "open"
        assert seen[title]["service"] == service
        assert seen[title]["tenant"] == "ops"
        assert seen[title]["source"] == "alertmanager"

    ended = datetime.now(UTC) - timedelta(seconds=1)
    resolved = [am_alert("CheckoutLatencyHigh", "checkout", ends=ended)]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=resolved, timeout=10).status_code == 200
    seen = wait_for(ballast, lambda s: s.get("CheckoutLatencyHigh", {}).get("status") == "resolved",
                    "the resolved notification resolved the incident")
    assert seen["LedgerDiskFull"]["status"] == "open"
    assert len(seen) == 2  # Alertmanager's repeated notifications folded, not new incidents
