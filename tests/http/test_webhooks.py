"""Alertmanager and Grafana webhooks through the real app: one signal per alert, idempotent resends, resolves."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.http.conftest import am_alert, am_payload, backlog, drain, grafana_payload, resolved


def incidents(client: TestClient, **params: str) -> list[dict]:
    response = client.get("/api/v1/incidents", params=params)
    assert response.status_code == 200
    return response.json()["incidents"]


def test_alertmanager_firing_opens_an_incident_after_the_ack(client: TestClient) -> None:
    response = client.post("/webhooks/alertmanager", json=am_payload())
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1 and len(body["ids"]) == 1
    assert incidents(client) == []  # acknowledged = committed to the inbox, decided later
    assert backlog(client) == 1
    assert drain(client) == 1
    [incident] = incidents(client)
    assert incident["title"] == "HighLatency"
    assert incident["service"] == "checkout"
    assert incident["severity"] == "critical"
    assert incident["status"] == "open"
    assert incident["tenant"] == "default"
    assert incident["source"] == "alertmanager"
    state = client.get(f"/api/v1/alerts/{body['ids'][0]}").json()
    assert state["status"] == "done"
    assert state["result"]["decision"] == "new"
    assert state["result"]["incident_id"] == incident["id"]


def test_one_signal_per_alert_and_unknown_fields_accepted(client: TestClient) -> None:
    payload = am_payload(am_alert("HighLatency"), am_alert("DiskFull", service="ledger"))
    payload["someFutureField"] = {"nested": True}
    payload["alerts"][0]["anotherNewField"] = 1
    response = client.post("/webhooks/alertmanager", json=payload)
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    drain(client)
    assert sorted(i["title"] for i in incidents(client)) == ["DiskFull", "HighLatency"]


def test_alertmanager_resend_is_idempotent(client: TestClient) -> None:
    payload = am_payload()
    first = client.post("/webhooks/alertmanager", json=payload).json()["ids"][0]
    drain(client)
    # Alertmanager resends the same notification (retry or repeat_interval); also twice in one batch.
    again = [client.post("/webhooks/alertmanager", json=payload).json()["ids"][0] for _ in range(2)]
    drain(client)
    [incident] = incidents(client)
    assert incident["occurrence_count"] == 1
    results = [client.get(f"/api/v1/alerts/{i}").json()["result"] for i in (first, *again)]
    assert [r["incident_id"] for r in results] == [incident["id"]] * 3
    assert [r.get("replayed", False) for r in results] == [False, True, True]


def test_a_new_firing_of_the_same_alert_counts_again(client: TestClient) -> None:
    client.post("/webhooks/alertmanager", json=am_payload(am_alert(starts_at="2026-11-27T20:00:00Z")))
    client.post("/webhooks/alertmanager", json=am_payload(am_alert(starts_at="2026-11-27T21:00:00Z")))
    drain(client)
    [incident] = incidents(client)
    assert incident["occurrence_count"] == 2


def test_resolved_notification_resolves_the_open_incident(client: TestClient) -> None:
    firing = am_payload()
    client.post("/webhooks/alertmanager", json=firing)
    drain(client)
    response = client.post("/webhooks/alertmanager", json=resolved(firing))
    assert response.status_code == 202
    drain(client)
    [incident] = incidents(client)
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] == "2026-11-27T20:05:00Z"
    assert incidents(client, status="open") == []
    # The same resolved notification again changes nothing.
    client.post("/webhooks/alertmanager", json=resolved(firing))
    drain(client)
    assert incidents(client) == [incident]


def test_firing_again_after_resolve_is_a_regression(client: TestClient) -> None:
    client.post("/webhooks/alertmanager", json=am_payload(am_alert(starts_at="2026-11-27T20:00:00Z")))
    drain(client)
    client.post("/webhooks/alertmanager", json=resolved(am_payload(am_alert(starts_at="2026-11-27T20:00:00Z"))))
    drain(client)
    ids = client.post("/webhooks/alertmanager", json=am_payload(am_alert(starts_at="2026-11-27T22:00:00Z"))).json()["ids"]
    drain(client)
    result = client.get(f"/api/v1/alerts/{ids[0]}").json()["result"]
    assert result["decision"] == "regression"
    open_ = incidents(client, status="open")
    assert len(open_) == 1 and open_[0]["regression_of"] is not None


def test_grafana_webhook(client: TestClient) -> None:
    response = client.post("/webhooks/grafana", json=grafana_payload())
    assert response.status_code == 202
    drain(client)
    [incident] = incidents(client)
    assert incident["title"] == "DiskFull"
    assert incident["service"] == "ledger"
    assert incident["source"] == "grafana"


def test_webhook_routes_need_their_own_shape(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.post("/webhooks/grafana", json={"status": "firing"})
    assert response.status_code == 422
    assert response.json()["field"] == "alerts"
    response = client.post("/webhooks/alertmanager", json=am_payload() | {"version": "3"})
    assert response.status_code == 422
    assert response.json()["field"] == "version"
    assert backlog(client) == 0
