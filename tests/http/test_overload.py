"""Overload: past BALLAST_QUEUE_MAX pending signals the webhooks answer 503 with Retry-After, storing nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.http.conftest import am_alert, am_payload, backlog, drain


def test_backlog_over_the_bound_is_503_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(queue_max=3)
    for i in range(3):
        assert client.post("/webhooks/alertmanager", json=am_payload(am_alert(instance=f"h{i}"))).status_code == 202
    refused = client.post("/webhooks/alertmanager", json=am_payload(am_alert(instance="h9")))
    assert refused.status_code == 503  # 5xx: Alertmanager retries it (a 4xx would be dropped)
    assert int(refused.headers["retry-after"]) > 0
    assert "retry later" in refused.json()["error"]
    assert client.post("/api/v1/alerts", json={"text": "x"}).status_code == 503
    assert backlog(client) == 3
    assert 'ballast_requests_rejected_total{reason="overloaded"} 2.0' in client.get("/metrics").text
    drain(client)
    time.sleep(0.15)  # refusals recount the backlog at most every 0.1 s
    assert client.post("/webhooks/alertmanager", json=am_payload(am_alert(instance="h9"))).status_code == 202


def test_a_request_that_does_not_fit_whole_is_refused_whole(make_client: Callable[..., TestClient]) -> None:
    client = make_client(queue_max=3)
    client.post("/webhooks/alertmanager", json=am_payload(am_alert(instance="h0")))
    two_more = am_payload(am_alert(instance="h1"), am_alert(instance="h2"), am_alert(instance="h3"))
    assert client.post("/webhooks/alertmanager", json=two_more).status_code == 503
    assert backlog(client) == 1
