"""Alerts that arrive over HTTP reach Slack: a card in the routed channel, repeats in its thread (gathered,
never doubled), regressions linked, resolves shown on the card, and a Slack outage only delays them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.slack import outbox
from tests.http.conftest import am_payload, drain, resolved
from tests.slack.alerting import DEFAULT, ROUTED, Stack, firing, key_of, make_stack, text_of, thread, top_level

__all__ = ["make_stack"]  # the fixture
MakeStack = Callable[..., Stack]


def incidents(stack: Stack) -> list[dict[str, object]]:
    response = stack.client.get("/api/v1/incidents")
    assert response.status_code == 200
    body = response.json()
    return list(body["incidents"] if isinstance(body, dict) else body)


def test_an_alert_gets_its_card_in_the_routed_channel(make_stack: MakeStack) -> None:
    stack = make_stack()
    now = datetime.now(UTC)
    stack.alert(firing(now, service="checkout-api"), firing(now, alertname="DiskFull", service="payments"))
    assert top_level(stack.api, ROUTED) == [] and top_level(stack.api, DEFAULT) == []  # posting is the job's
    assert stack.deliver() == 2
    routed, default = top_level(stack.api, ROUTED), top_level(stack.api, DEFAULT)
    assert len(routed) == 1 and len(default) == 1
    assert "HighLatency" in text_of(routed[0]) and "DiskFull" in text_of(default[0])
    by_service = {i["service"]: i["id"] for i in incidents(stack)}
    assert key_of(routed[0]) == f"card:{by_service['checkout-api']}"
    assert stack.deliver() == 0  # done notices are not shown again


def test_repeats_become_one_thread_reply_and_never_a_second_card(make_stack: MakeStack) -> None:
    stack = make_stack()
    start = datetime.now(UTC) - timedelta(hours=1)
    stack.alert(firing(start, service="checkout-api"))
    stack.deliver()
    [card] = top_level(stack.api, ROUTED)
    # Five repeats (each a new firing of the same alert), decided while the outbox job is idle.
    repeats = [firing(start + timedelta(minutes=i), service="checkout-api") for i in range(1, 6)]
    stack.alert(*repeats[:2])
    stack.alert(*repeats[2:])
    assert stack.deliver() == 5
    assert len(top_level(stack.api, ROUTED)) == 1
    replies = thread(stack.api, ROUTED, card["ts"])
    assert len(replies) == 1
    assert "5 more reports" in text_of(replies[0])
    [card] = top_level(stack.api, ROUTED)
    assert card.get("edited") and "6" in text_of(card)  # the count on the card, redrawn
    # Alertmanager resending the same firings (a retry) is a replay: no notice, no reply.
    response = stack.client.post("/webhooks/alertmanager", json=am_payload(*repeats))
    assert response.status_code == 202
    drain(stack.client)
    assert stack.deliver() == 0
    assert len(thread(stack.api, ROUTED, card["ts"])) == 1


def test_a_flood_of_repeats_waits_out_the_thread_window(make_stack: MakeStack) -> None:
    stack = make_stack(slack_thread_window=60.0)
    start = datetime.now(UTC) - timedelta(hours=1)
    stack.alert(firing(start, service="checkout-api"))
    stack.deliver()
    [card] = top_level(stack.api, ROUTED)
    stack.alert(*[firing(start + timedelta(minutes=i), service="checkout-api") for i in range(1, 4)])
    assert stack.deliver() == 0  # not due before the window ends
    assert thread(stack.api, ROUTED, card["ts"]) == []
    assert stack.deliver(datetime.now(UTC) + timedelta(seconds=61)) == 3
    [reply] = thread(stack.api, ROUTED, card["ts"])
    assert "3 more reports" in text_of(reply)


def test_a_resolve_updates_the_card_and_a_new_firing_links_the_old_incident(make_stack: MakeStack) -> None:
    stack = make_stack()
    start = datetime.now(UTC) - timedelta(hours=2)
    first = firing(start, service="checkout-api")
    stack.alert(first)
    stack.deliver()
    [card] = top_level(stack.api, ROUTED)
    assert "Resolved" not in text_of(card)
    response = stack.client.post("/webhooks/alertmanager", json=resolved(am_payload(first)))
    assert response.status_code == 202
    drain(stack.client)
    stack.deliver()
    [card] = top_level(stack.api, ROUTED)
    assert card.get("edited") and "Resolved" in text_of(card)
    assert thread(stack.api, ROUTED, card["ts"]) == []  # a resolve is not another report
    # It fires again later: a regression, with its own card that links the old one.
    stack.alert(firing(start + timedelta(hours=1), service="checkout-api"))
    stack.deliver()
    cards = top_level(stack.api, ROUTED)
    assert len(cards) == 2
    note = thread(stack.api, ROUTED, cards[1]["ts"])
    assert len(note) == 1 and "resolved" in text_of(note[0])
    assert card["ts"].replace(".", "") in text_of(note[0])  # the old card's permalink


def test_a_slack_outage_keeps_the_notice_and_posts_it_later(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.api.state.errors["chat.postMessage"] = "service_unavailable"
    stack.alert(firing(datetime.now(UTC), service="checkout-api"))
    assert stack.deliver() == 1
    assert top_level(stack.api, ROUTED) == []
    assert len(incidents(stack)) == 1  # intake is untouched by the outage
    assert outbox.counts(stack.services.engine) == {"pending": 1}
    assert stack.deliver() == 0  # backing off
    del stack.api.state.errors["chat.postMessage"]
    assert stack.deliver(datetime.now(UTC) + timedelta(seconds=outbox.MAX_BACKOFF + 1)) == 1
    assert len(top_level(stack.api, ROUTED)) == 1
    assert outbox.counts(stack.services.engine) == {"done": 1}


def test_without_a_route_or_default_nothing_is_posted_and_nothing_is_stuck(make_stack: MakeStack) -> None:
    stack = make_stack("routes:\n  rules:\n    - service: other\n      channel: C0OTHER\n")
    stack.alert(firing(datetime.now(UTC), service="checkout-api"))
    assert stack.deliver() == 1
    assert stack.api.posts() == []
    assert outbox.counts(stack.services.engine) == {"skipped": 1}


def test_without_slack_no_notices_are_stored(make_services: Callable[..., object]) -> None:
    from fastapi.testclient import TestClient

    from bot.http import create_app

    services = make_services()
    with TestClient(create_app(services, start_workers=False)) as client:  # type: ignore[arg-type]
        assert client.post("/webhooks/alertmanager", json=am_payload()).status_code == 202
        assert drain(client) == 1
        assert outbox.counts(services.engine) == {}  # type: ignore[attr-defined]
