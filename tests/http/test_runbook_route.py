"""GET /api/v1/runbooks/search: the CLI's search shape over HTTP, behind the API keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.http.conftest import app_of

RUNBOOK = """---
title: Disk filling up
alerts: [NodeDiskAlmostFull]
---
# Disk filling up

## Diagnosis
Find what grows on the volume with du and remove old container images.
"""


def _write_runbooks(root: Path) -> Path:
    (root / "storage").mkdir(parents=True)
    (root / "storage" / "NodeDiskAlmostFull.md").write_text(RUNBOOK)
    (root / "Other.md").write_text("# Certificates\n\nRenew the TLS certificate before it expires.\n")
    return root


def test_search_without_indexed_runbooks_says_how_to_fix_it(client: TestClient) -> None:
    response = client.get("/api/v1/runbooks/search", params={"q": "disk full"})
    assert response.status_code == 503
    assert "runbooks index" in response.json()["error"]


def test_search_returns_ranked_matches(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client()
    services = app_of(client).state.services
    services.index_runbooks(_write_runbooks(tmp_path / "books"), lambda line: None)
    response = client.get("/api/v1/runbooks/search", params={"q": "NodeDiskAlmostFull on node-3", "top": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "NodeDiskAlmostFull on node-3"
    assert body["matches"][0]["runbook"] == "storage/NodeDiskAlmostFull"
    assert body["matches"][0]["title"] == "Disk filling up"
    assert len(body["matches"]) <= 2


def test_search_needs_a_key_when_keys_are_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys="acme:s3cret-key")
    assert client.get("/api/v1/runbooks/search", params={"q": "disk"}).status_code == 401
    assert client.get("/api/v1/runbooks/search", params={"q": ""},
                      headers={"Authorization": "Bearer s3cret-key"}).status_code in (400, 422)
