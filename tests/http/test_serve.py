"""`ballast serve` as a process: it answers, decides with the real model, stops on SIGTERM with status 0,
and after a kill -9 in the middle of a flood a restart loses nothing it acknowledged."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ballast_exe, cli_env
from tests.http.conftest import am_alert, am_payload

pytestmark = pytest.mark.model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, log: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen([ballast_exe(), "serve", "--port", str(self.port)], env=cli_env(home, **env),
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def wait(self, path: str = "/readyz", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{path} did not answer 200 within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def wait_done(base: str, ids: list[int], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    states: list[dict] = []
    while time.monotonic() < deadline:
        states = [httpx.get(f"{base}/api/v1/alerts/{i}", timeout=5).json() for i in ids]
        if all(s.get("status") == "done" for s in states):
            return states
        time.sleep(0.2)
    pytest.fail(f"not all done within {timeout}s: {[s.get('status') for s in states]}")


def test_serve_answers_decides_and_stops_cleanly(home: Path, tmp_path: Path, servers: list[Server]) -> None:
    server = Server(home, tmp_path / "serve.log")
    servers.append(server)
    server.wait()
    ids = httpx.post(f"{server.base}/webhooks/alertmanager", json=am_payload(), timeout=10).json()["ids"]
    [state] = wait_done(server.base, ids)
    assert state["result"]["decision"] == "new"
    assert "ballast_incidents_opened_total 1.0" in httpx.get(f"{server.base}/metrics").text
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    assert "ballast serve stopped" in server.log.read_text()


def test_socket_mode_without_a_token_is_a_clear_error(home: Path) -> None:
    result = subprocess.run([ballast_exe(), "serve", "--socket"], env=cli_env(home), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "SLACK_APP_TOKEN" in result.stderr


def test_bad_api_keys_config_is_a_clear_error(home: Path) -> None:
    result = subprocess.run([ballast_exe(), "serve", "--port", str(free_port())],
                            env=cli_env(home, BALLAST_API_KEYS="acme"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "BALLAST_API_KEYS entry 1" in result.stderr


def test_kill_9_during_a_flood_loses_nothing_acknowledged(home: Path, tmp_path: Path, servers: list[Server]) -> None:
    server = Server(home, tmp_path / "serve.log")
    servers.append(server)
    server.wait()
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(k: int) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not stop.is_set():
                payload = am_payload(am_alert(f"Flood{k}", instance=f"10.1.{k}.{i % 250}", starts_at=f"2026-11-27T20:{i % 60:02d}:00Z"))
                try:
                    response = client.post(f"{server.base}/webhooks/alertmanager", json=payload)
                except httpx.HTTPError:
                    return  # the server died mid-request: that one was never acknowledged
                if response.status_code == 202:
                    with lock:
                        acknowledged.extend(response.json()["ids"])
                i += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    server.proc.kill()  # SIGKILL: no shutdown of any kind
    server.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acknowledged) > 20

    restarted = Server(home, tmp_path / "serve2.log")
    servers.append(restarted)
    restarted.wait()
    states = wait_done(restarted.base, sorted(acknowledged), timeout=120)
    assert all(s["result"]["incident_id"] is not None for s in states)
    assert restarted.stop() == 0
