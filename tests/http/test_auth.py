"""API keys and tenants: 401 without the right key, a key sees and changes only its tenant's data."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from bot.auth import KeyConfigError, parse_api_keys
from tests.http.conftest import am_payload, backlog, drain

KEYS = "acme:acme-key-0001,globex:globex-key-0002"
ACME = {"Authorization": "Bearer acme-key-0001"}
GLOBEX = {"Authorization": "Bearer globex-key-0002"}


@pytest.fixture
def keyed(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_keys=KEYS)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope-nope-nope"}, {"Authorization": "acme-key-0001"},
                                     {"Authorization": "Basic YWNtZTphY21lLWtleS0wMDAx"}, {"Authorization": "Bearer "}])
def test_missing_or_wrong_key_is_401_and_stores_nothing(keyed: TestClient, headers: dict[str, str]) -> None:
    for method, path, body in [("POST", "/webhooks/alertmanager", am_payload()), ("POST", "/api/v1/alerts", {"text": "x"}),
                               ("GET", "/api/v1/incidents", None), ("GET", "/api/v1/analytics", None),
                               ("POST", "/api/v1/incidents/1/resolve", None), ("POST", "/webhooks/grafana", {})]:
        response = keyed.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "error" in response.json()
    assert backlog(keyed) == 0


def test_a_wrong_key_is_refused_before_the_body_is_read(keyed: TestClient) -> None:
    response = keyed.post("/webhooks/alertmanager", content=b"{not json", headers={"Authorization": "Bearer wrong-key-123"})
    assert response.status_code == 401


def test_health_and_metrics_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/metrics").status_code == 200


def test_tenants_are_isolated(keyed: TestClient) -> None:
    assert keyed.post("/webhooks/alertmanager", json=am_payload(), headers=ACME).status_code == 202
    # The body's tenant is ignored: the key decides.
    assert keyed.post("/api/v1/alerts", json={"text": "globex disk full", "tenant": "acme"}, headers=GLOBEX).status_code == 202
    drain(keyed)
    [mine] = keyed.get("/api/v1/incidents", headers=ACME).json()["incidents"]
    [theirs] = keyed.get("/api/v1/incidents", headers=GLOBEX).json()["incidents"]
    assert mine["tenant"] == "acme" and theirs["tenant"] == "globex"
    assert keyed.get(f"/api/v1/incidents/{theirs['id']}", headers=ACME).status_code == 404
    assert keyed.post(f"/api/v1/incidents/{theirs['id']}/resolve", headers=ACME).status_code == 404
    assert keyed.get(f"/api/v1/incidents/{theirs['id']}", headers=GLOBEX).json()["status"] == "open"
    assert keyed.get("/api/v1/alerts/1", headers=GLOBEX).status_code == 404  # acme's accepted alert
    assert keyed.get("/api/v1/alerts/1", headers=ACME).status_code == 200
    assert keyed.get("/api/v1/analytics", headers=ACME).json()["incidents"] == 1
    assert keyed.get("/api/v1/analytics", headers=GLOBEX).json()["by_service"] == {"unknown": {"open": 1}}


def test_the_same_alert_in_two_tenants_is_two_incidents(keyed: TestClient) -> None:
    for headers in (ACME, GLOBEX):
        keyed.post("/webhooks/alertmanager", json=am_payload(), headers=headers)
    drain(keyed)
    for headers, tenant in ((ACME, "acme"), (GLOBEX, "globex")):
        [incident] = keyed.get("/api/v1/incidents", headers=headers).json()["incidents"]
        assert incident["tenant"] == tenant and incident["occurrence_count"] == 1


def test_keys_are_never_logged(make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(api_keys=KEYS)
    client.post("/api/v1/alerts", json={"text": "x"}, headers={"Authorization": "Bearer not-a-key-99"})
    client.post("/api/v1/alerts", json={"text": "x"}, headers=ACME)
    drain(client)
    for secret in ("acme-key-0001", "globex-key-0002", "not-a-key-99"):
        assert secret not in caplog.text


def test_without_keys_everything_is_tenant_default_and_a_warning_is_logged(
        make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    client = make_client()
    assert "BALLAST_API_KEYS is unset" in caplog.text
    client.post("/api/v1/alerts", json={"text": "orders api 500s", "tenant": "someone-else"})
    drain(client)
    assert [i["tenant"] for i in client.get("/api/v1/incidents").json()["incidents"]] == ["default"]


def test_key_parsing() -> None:
    ring = parse_api_keys(" acme:k-aaaaaaaa , globex:k:with:colons ,")
    assert ring.tenants == ["acme", "globex"]
    assert ring.tenant_for("k:with:colons") == "globex"
    assert ring.tenant_for("k-aaaaaaaa") == "acme"
    assert ring.tenant_for("k-aaaaaaab") is None
    assert ring.tenant_for_header("bearer k-aaaaaaaa") == "acme"
    assert not parse_api_keys(None).enabled
    assert parse_api_keys("").tenant_for_header(None) == "default"


@pytest.mark.parametrize("raw, message", [("acme", "entry 1 is not 'tenant:key'"), ("acme:", "entry 1 is not"),
                                          ("a:short", "shorter than 8"), ("bad tenant:k-aaaaaaaa", "tenant 'bad tenant'"),
                                          ("a:k-aaaaaaaa,b:k-aaaaaaaa", "entry 2: the same key")])
def test_bad_key_config_names_the_entry_not_the_key(raw: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message) as info:
        parse_api_keys(raw)
    assert "k-aaaaaaaa" not in str(info.value)
