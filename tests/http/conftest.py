"""HTTP fixtures: the real app over test services (fake embedder), payload builders, and a drain helper."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import Services
from bot.http import create_app

Payload = dict[str, Any]


@pytest.fixture
def make_client(make_services: Callable[..., Services]) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over a fresh app; overrides are Settings fields (`api_keys="a:key..."`, `queue_max=3`).

    Workers are off unless asked for: tests decide when rows are processed with `drain(client)`.
    """
    clients: list[TestClient] = []

    def make(*, start_workers: bool = False, services: Services | None = None, **overrides: Any) -> TestClient:
        if "api_keys" in overrides:
            overrides["api_keys"] = SecretStr(overrides["api_keys"])
        svc = services or make_services(**overrides)
        client = TestClient(create_app(svc, start_workers=start_workers))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def app_of(client: TestClient) -> FastAPI:
    app = client.app
    assert isinstance(app, FastAPI)
    return app


def drain(client: TestClient) -> int:
    """Process every pending inbox row now, in this thread; how many were taken."""
    pool = app_of(client).state.pool
    total = 0
    while (taken := pool.run_once()) > 0:
        total += taken
    return total


def backlog(client: TestClient) -> int:
    return int(app_of(client).state.backlog.refresh())


def am_alert(alertname: str = "HighLatency", *, status: str = "firing", service: str = "checkout",
             instance: str = "10.0.0.1:9100", starts_at: str = "2026-11-27T20:00:00.000Z",
             fingerprint: str | None = None, **labels: str) -> Payload:
    return {
        "status": status,
        "labels": {"alertname": alertname, "service": service, "severity": "critical", "instance": instance, **labels},
        "annotations": {"summary": f"{alertname} on {service}", "description": f"{service} is unhappy: {alertname}"},
        "startsAt": starts_at,
        "endsAt": "2026-11-27T20:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": fingerprint or f"{abs(hash((alertname, service, instance))) % 16**16:016x}",
    }


def am_payload(*alerts: Payload, status: str | None = None) -> Payload:
    alerts = alerts or (am_alert(),)
    return {
        "version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0,
        "status": status or alerts[0]["status"], "receiver": "ballast",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager.local",
        "alerts": list(alerts),
    }


def resolved(payload: Payload) -> Payload:
    out = copy.deepcopy(payload)
    out["status"] = "resolved"
    for alert in out["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-27T20:05:00Z"
    return out


def grafana_payload() -> Payload:
    return {
        "receiver": "ballast", "status": "firing", "orgId": 1, "version": "1", "state": "alerting",
        "title": "[FIRING:1] DiskFull", "message": "disk almost full", "groupKey": "{}:{}", "truncatedAlerts": 0,
        "externalURL": "http://grafana.local/",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "grafana_folder": "infra", "service": "ledger", "instance": "db-1"},
            "annotations": {"summary": "Disk on db-1 is 95% full"},
            "startsAt": "2026-11-27T19:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://grafana.local/alerting/grafana/x/view", "fingerprint": "0a1b2c3d4e5f6789",
            "silenceURL": "http://grafana.local/alerting/silence/new", "values": {"A": 95.2}, "valueString": "A=95.2",
        }],
    }
