"""Bad requests: malformed JSON 400, wrong shape 422 naming the field, too large 413; nothing stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.http.conftest import am_alert, am_payload, backlog


@pytest.mark.parametrize("path", ["/webhooks/alertmanager", "/webhooks/grafana", "/api/v1/alerts"])
@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"alerts": [}'])
def test_malformed_json_is_400(client: TestClient, path: str, body: bytes) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed JSON")
    assert backlog(client) == 0


@pytest.mark.parametrize("payload, field", [
    ({"version": "4"}, "alerts"),
    (am_payload() | {"alerts": "nope"}, "alerts"),
    (am_payload(am_alert() | {"status": "exploded"}, status="firing"), "alerts.0.status"),
    (am_payload(am_alert() | {"labels": {}}), "alerts.0.labels"),
    (am_payload(am_alert() | {"labels": {"alertname": 5}}), "alerts.0.labels.alertname"),
    (am_payload(am_alert(), am_alert() | {"annotations": []}), "alerts.1.annotations"),
    ([], "body"),
])
def test_wrong_webhook_shape_is_422_naming_the_field(client: TestClient, payload: object, field: str) -> None:
    response = client.post("/webhooks/alertmanager", json=payload)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert backlog(client) == 0


@pytest.mark.parametrize("payload, field", [
    ({"title": "no text"}, "text"),
    ([{"text": "fine"}, {"text": "   "}], "1.text"),
    ([{"text": "fine"}, {"text": "x", "status": "burning"}], "1.status"),
    ({"text": "x", "labels": ["a"]}, "labels"),
    ({"text": "x", "time": "yesterday"}, "time"),
    ([], "body"),
    ("just a string", "body"),
])
def test_wrong_alert_shape_is_422_and_nothing_of_the_list_is_stored(client: TestClient, payload: object,
                                                                    field: str) -> None:
    response = client.post("/api/v1/alerts", json=payload)
    assert response.status_code == 422, response.json()
    assert response.json()["field"] == field
    assert backlog(client) == 0


@pytest.fixture
def small(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(http_max_body=2048)


def test_body_over_the_cap_is_413(small: TestClient) -> None:
    big = am_payload(*[am_alert(instance=f"10.0.0.{i}:9100") for i in range(20)])
    response = small.post("/webhooks/alertmanager", json=big)
    assert response.status_code == 413
    assert "BALLAST_HTTP_MAX_BODY" in response.json()["error"]
    assert small.post("/webhooks/alertmanager", json=am_payload()).status_code == 202
    assert backlog(small) == 1


def test_streamed_body_over_the_cap_is_413(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the cap is counted while reading
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    response = small.post("/api/v1/alerts", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert backlog(small) == 0


def test_other_content_types_are_parsed_as_json(client: TestClient) -> None:
    response = client.post("/api/v1/alerts", content=b'{"text": "from curl -d"}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202
