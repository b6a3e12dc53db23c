"""The webhook accept path: group commit, the durable acknowledging connection, the plain ASGI routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text

from bot import inbox
from bot.app import Services
from bot.inbox_writer import InboxWriter
from retrieval.signal import Signal
from tests.http.conftest import am_alert, am_payload, app_of, backlog


def _commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_requests_of_one_loop_turn_share_one_commit(services: Services) -> None:
    engine = services.engine
    writer = InboxWriter(engine)
    commits = _commits(engine)

    async def flood() -> list[list[int]]:
        return await asyncio.gather(*(writer.commit([Signal(text=f"alert {i}"), Signal(text=f"more {i}")], "api")
                                      for i in range(12)))

    try:
        ids = asyncio.run(flood())
    finally:
        writer.stop()
    assert len(commits) == 1
    flat = [i for pair in ids for i in pair]
    assert len(set(flat)) == 24 and flat == sorted(flat)  # each request gets its own rows, in order
    assert inbox.backlog(engine) == 24
    assert [c.signal.text for c in inbox.claim(engine, "w", 2, 60)] == ["alert 0", "more 0"]


def test_a_failed_group_commit_fails_each_of_its_requests(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")  # no inbox table: the INSERT fails
    writer = InboxWriter(engine)

    async def two() -> list[object]:
        return await asyncio.gather(writer.commit([Signal(text="a")], "api"), writer.commit([Signal(text="b")], "api"),
                                    return_exceptions=True)

    try:
        outcomes = asyncio.run(two())
    finally:
        writer.stop()
        engine.dispose()
    assert len(outcomes) == 2 and all(isinstance(o, Exception) for o in outcomes), outcomes


def test_a_stopped_writer_refuses_new_requests(services: Services) -> None:
    writer = InboxWriter(services.engine)
    asyncio.run(writer.commit([Signal(text="before")], "api"))
    writer.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(writer.commit([Signal(text="after")], "api"))
    with pytest.raises(RuntimeError, match="stopped"):
        writer.submit([Signal(text="after")], "api")
    assert inbox.backlog(services.engine) == 1


def test_the_acknowledging_commit_is_fsynced_on_sqlite(client: TestClient) -> None:
    app = app_of(client)
    engine, ack = app.state.services.engine, app.state.writer.engine
    if engine.dialect.name != "sqlite":
        assert ack is engine  # PostgreSQL's commit is durable as it is
        return
    assert ack is not engine
    with ack.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    assert client.post("/webhooks/alertmanager", json=am_payload()).status_code == 202
    assert backlog(client) == 1  # written through the acknowledging engine, read through the other


def test_normal_acknowledgements_are_a_setting(make_client: Callable[..., TestClient]) -> None:
    client = make_client(sqlite_ack_synchronous="NORMAL")
    app = app_of(client)
    assert app.state.writer.engine is app.state.services.engine


def test_webhook_routes_are_described_with_their_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    for path in ("/webhooks/alertmanager", "/webhooks/grafana"):
        operation = schema["paths"][path]["post"]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert set(operation["responses"]) == {"202", "400", "401", "413", "422", "503"}
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.rsplit("/", 1)[1] in schema["components"]["schemas"]
    assert len({schema["paths"][p]["post"]["operationId"] for p in schema["paths"] if "post" in schema["paths"][p]}) \
        == sum("post" in item for item in schema["paths"].values())


def test_json_the_fast_parser_refuses_is_read_by_the_json_module(client: TestClient) -> None:
    utf16 = json.dumps(am_payload(am_alert(fingerprint="00000000000000aa"))).encode("utf-16")
    response = client.post("/webhooks/alertmanager", content=utf16, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.json()
    broken = client.post("/webhooks/alertmanager", content=b'{"alerts": [}',
                         headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert broken.json() == {"error": "malformed JSON: Expecting value at line 1 column 13"}
    assert backlog(client) == 1


def test_webhook_answers_keep_their_shapes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(queue_max=1)
    accepted = client.post("/webhooks/alertmanager", json=am_payload())
    assert accepted.status_code == 202
    assert accepted.headers["content-type"] == "application/json"
    assert accepted.json() == {"accepted": 1, "ids": [accepted.json()["ids"][0]]}
    full = client.post("/webhooks/grafana", json=am_payload(am_alert(instance="10.0.0.2:9100")))
    assert full.status_code == 503 and full.headers["retry-after"] == "5"
    assert "retry later" in full.json()["error"]
    wrong_method = client.get("/webhooks/alertmanager")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    assert backlog(client) == 1


def test_request_time_is_recorded_under_the_webhook_route(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/webhooks/alertmanager", json=am_payload()).status_code == 202
    metrics = client.get("/metrics").text
    assert 'ballast_http_request_seconds_count{method="POST",route="/webhooks/alertmanager"} 3.0' in metrics
    assert 'ballast_signals_received_total{source="alertmanager"} 3.0' in metrics
