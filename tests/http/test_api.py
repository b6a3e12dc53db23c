"""The REST API through the real app: alerts in, incidents and analytics out, health, metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.http.conftest import am_payload, app_of, drain, resolved


def test_generic_alert_one_line_or_a_list(client: TestClient) -> None:
    one = client.post("/api/v1/alerts", json={"text": "checkout: payment provider timed out", "service": "checkout"})
    assert one.status_code == 202 and one.json()["accepted"] == 1
    many = client.post("/api/v1/alerts", json=[{"text": "disk /var full on db-1", "id": "a-1"},
                                              {"text": "queue backlog on mailer", "id": 2, "status": "firing"}])
    assert many.status_code == 202 and many.json()["accepted"] == 2
    drain(client)
    listed = client.get("/api/v1/incidents").json()
    assert listed["count"] == 3
    states = [client.get(f"/api/v1/alerts/{i}").json() for i in many.json()["ids"]]
    assert [s["status"] for s in states] == ["done", "done"]
    assert [s["result"]["id"] for s in states] == many.json()["ids"]


def test_generic_alert_id_makes_a_retry_a_replay(client: TestClient) -> None:
    line = {"text": "ledger replication lag 40s", "id": "lag-1"}
    ids = [client.post("/api/v1/alerts", json=line).json()["ids"][0] for _ in range(2)]
    drain(client)
    [incident] = client.get("/api/v1/incidents").json()["incidents"]
    assert incident["occurrence_count"] == 1
    assert client.get(f"/api/v1/alerts/{ids[1]}").json()["result"]["replayed"] is True


def test_incident_routes(client: TestClient) -> None:
    client.post("/webhooks/alertmanager", json=am_payload())
    client.post("/api/v1/alerts", json={"text": "search index rebuild stuck at 40%"})
    drain(client)
    rows = client.get("/api/v1/incidents").json()["incidents"]
    assert len(rows) == 2
    first = rows[0]
    shown = client.get(f"/api/v1/incidents/{first['id']}")
    assert shown.status_code == 200 and shown.json() == first
    for key in ("id", "tenant", "title", "service", "severity", "status", "occurrence_count", "first_seen",
                "last_seen", "runbook", "regression_of"):
        assert key in first
    done = client.post(f"/api/v1/incidents/{first['id']}/resolve")
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert [i["id"] for i in client.get("/api/v1/incidents", params={"status": "resolved"}).json()["incidents"]] == [first["id"]]
    assert len(client.get("/api/v1/incidents", params={"status": "open"}).json()["incidents"]) == 1
    assert client.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/v1/incidents/999999").status_code == 404
    assert client.post("/api/v1/incidents/999999/resolve").status_code == 404
    assert client.get("/api/v1/alerts/999999").status_code == 404


def test_analytics(client: TestClient) -> None:
    payload = am_payload()
    client.post("/webhooks/alertmanager", json=payload)
    client.post("/api/v1/alerts", json={"text": "mailer queue backlog above 10k", "service": "mailer"})
    drain(client)
    client.post("/api/v1/alerts", json={"text": "mailer queue backlog above 12k", "service": "mailer"})
    client.post("/webhooks/alertmanager", json=resolved(payload))
    drain(client)
    stats = client.get("/api/v1/analytics").json()
    assert stats["tenant"] == "default"
    assert stats["incidents"] == 2
    assert stats["by_status"] == {"open": 1, "acknowledged": 0, "resolved": 1}
    assert stats["by_service"] == {"checkout": {"resolved": 1}, "mailer": {"open": 1}}
    assert stats["duplicates_folded"] == 2  # the mailer repeat and the resolved notification
    assert stats["regressions"] == 0
    assert stats["mttr_seconds"] == 300.0  # fired 20:00:00, resolved 20:05:00
    assert stats["mtta_seconds"] is None


def test_health_readiness_and_docs(make_client: Callable[..., TestClient]) -> None:
    client = make_client(start_workers=True)
    assert client.get("/healthz").json() == {"status": "ok"}
    app_of(client).state.pool.ready.wait(10)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"database": "ok", "vector_index": "ok", "model": "ok"}
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in ("/webhooks/alertmanager", "/webhooks/grafana", "/api/v1/alerts", "/api/v1/incidents",
                 "/api/v1/incidents/{incident_id}", "/api/v1/incidents/{incident_id}/resolve", "/api/v1/analytics",
                 "/healthz", "/readyz", "/metrics"):
        assert path in schema["paths"], path
    body = schema["paths"]["/webhooks/alertmanager"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/AlertmanagerPayload"}
    assert "WebhookAlert" in schema["components"]["schemas"]


def test_readiness_waits_for_the_model(client: TestClient) -> None:
    ready = client.get("/readyz")  # workers not started: nothing loaded the model yet
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"] == "loading"


def test_workers_decide_in_the_background(make_client: Callable[..., TestClient]) -> None:
    import time

    client = make_client(start_workers=True)
    ids = client.post("/webhooks/alertmanager", json=am_payload()).json()["ids"]
    deadline = time.monotonic() + 20
    while client.get(f"/api/v1/alerts/{ids[0]}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the worker pool did not process the alert"
        time.sleep(0.05)
    assert client.get("/api/v1/incidents").json()["count"] == 1


def test_metrics(client: TestClient) -> None:
    payload = am_payload()
    client.post("/webhooks/alertmanager", json=payload)
    client.post("/webhooks/alertmanager", json=payload)
    client.post("/webhooks/alertmanager", content=b"{not json")
    before = client.get("/metrics").text
    assert "ballast_inbox_queue_depth 2.0" in before
    drain(client)
    client.post("/api/v1/alerts", json={"text": "HighLatency on checkout again", "labels": payload["alerts"][0]["labels"]})
    drain(client)
    text = client.get("/metrics").text
    assert 'ballast_signals_received_total{source="alertmanager"} 2.0' in text
    assert 'ballast_signals_received_total{source="api"} 1.0' in text
    assert 'ballast_requests_rejected_total{reason="malformed"} 1.0' in text
    assert 'ballast_embedder_info{backend="auto"} 1.0' in text
    assert "ballast_incidents_opened_total 1.0" in text
    assert 'ballast_signals_processed_total{decision="replayed"} 1.0' in text
    assert "ballast_signals_deduped_total 1.0" in text
    assert "ballast_inbox_queue_depth 0.0" in text
    assert "ballast_processing_latency_seconds_count 3.0" in text
    assert "ballast_http_request_seconds_bucket" in text
