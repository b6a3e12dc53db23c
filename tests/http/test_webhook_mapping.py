"""Webhook payload to Signal mapping (pure): text, title, times and the idempotency id of a delivery."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.webhooks import AlertmanagerPayload, GrafanaPayload, WebhookAlert, alert_text, delivery_id, payload_signals
from tests.http.conftest import am_alert, am_payload, grafana_payload


def signals(payload: dict, model: type = AlertmanagerPayload, source: str = "alertmanager"):  # type: ignore[no-untyped-def]
    return payload_signals(model.model_validate(payload), source=source, tenant="t1", max_text_chars=16_000)


def test_alert_fields_become_a_signal() -> None:
    [signal] = signals(am_payload(am_alert("HighLatency", service="checkout", fingerprint="00ff00ff00ff00ff")))
    assert signal.title == "HighLatency"
    assert signal.service == "checkout"
    assert signal.severity == "critical"
    assert signal.source == "alertmanager"
    assert signal.tenant == "t1"
    assert signal.status == "firing"
    assert signal.text.splitlines()[:2] == ["HighLatency on checkout", "checkout is unhappy: HighLatency"]
    assert "alertname=HighLatency" in signal.text.splitlines()[2]
    assert signal.time == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert signal.external_id == "00ff00ff00ff00ff:2026-11-27T20:00:00.000Z:firing"
    assert signal.extra["generator_url"] == "http://prometheus.local/graph"


def test_resolved_alert_takes_its_end_time() -> None:
    [signal] = signals(am_payload(am_alert(status="resolved")))
    assert signal.status == "resolved"
    assert signal.time == datetime(2026, 11, 27, 20, 5, tzinfo=UTC)


def test_delivery_id_is_stable_and_tells_firing_from_resolved() -> None:
    alert = WebhookAlert.model_validate(am_alert(fingerprint="abc"))
    assert delivery_id(alert) == delivery_id(WebhookAlert.model_validate(am_alert(fingerprint="abc")))
    assert delivery_id(alert) != delivery_id(WebhookAlert.model_validate(am_alert(fingerprint="abc", status="resolved")))
    no_fingerprint = am_alert()
    del no_fingerprint["fingerprint"]
    first = delivery_id(WebhookAlert.model_validate(no_fingerprint))
    assert first == delivery_id(WebhookAlert.model_validate(no_fingerprint))  # from the labels instead


def test_nanosecond_and_unreadable_times() -> None:
    [signal] = signals(am_payload(am_alert(starts_at="2026-11-27T20:00:00.123456789Z")))
    assert signal.time is not None and signal.time.microsecond == 123456
    [signal] = signals(am_payload(am_alert(starts_at="not a time")))
    assert signal.time is None  # decided as received now


def test_text_without_annotations_is_the_labels() -> None:
    alert = WebhookAlert.model_validate({"status": "firing", "labels": {"alertname": "Watchdog"}})
    assert alert_text(alert) == "alertname=Watchdog"


def test_long_text_is_cut_and_marked() -> None:
    alert = am_alert()
    alert["annotations"]["description"] = "x" * 50
    [signal] = payload_signals(AlertmanagerPayload.model_validate(am_payload(alert)), source="alertmanager",
                               tenant="t", max_text_chars=40)
    assert len(signal.text) == 40 and signal.truncated


def test_grafana_payload() -> None:
    [signal] = signals(grafana_payload(), GrafanaPayload, "grafana")
    assert signal.title == "DiskFull"
    assert signal.source == "grafana"
    assert signal.text.startswith("Disk on db-1 is 95% full")
    assert signal.external_id == "0a1b2c3d4e5f6789:2026-11-27T19:00:00Z:firing"
