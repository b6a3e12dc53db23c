"""Webhook payloads (Alertmanager version 4, Grafana unified alerting) and their mapping to `Signal`s.

Pure: pydantic shapes in, frozen signals out. Unknown fields are accepted and kept in `extra`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.errors import InvalidSignal
from retrieval.fingerprint import digest
from retrieval.signal import Signal, parse_time

# Alertmanager and Grafana write this for "no end yet".
_ZERO_TIME_PREFIX = "0001-01-01"


class WebhookAlert(BaseModel):
    """One alert of a notification, as both Alertmanager and Grafana send it."""

    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=128)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook notification, payload version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"] = "4"
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int = 0
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[WebhookAlert]


class GrafanaPayload(BaseModel):
    """Grafana unified alerting's webhook notification (Alertmanager-like, plus title/state/message)."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    orgId: int | None = None
    title: str | None = None
    state: str | None = None
    message: str | None = None
    externalURL: str | None = None
    alerts: list[WebhookAlert]


def _event_time(alert: WebhookAlert) -> datetime | None:
    """When it fired, or when it ended for a resolved alert; unreadable times fall back to now."""
    raw = alert.endsAt if alert.status == "resolved" else alert.startsAt
    if not raw or raw.startswith(_ZERO_TIME_PREFIX):
        raw = alert.startsAt
    if not raw or raw.startswith(_ZERO_TIME_PREFIX):
        return None
    try:
        return parse_time(raw)
    except InvalidSignal:
        return None


def alert_text(alert: WebhookAlert) -> str:
    """summary, description, then the labels as `key=value`: what is masked, embedded and shown."""
    notes = alert.annotations
    summary = notes.get("summary") or notes.get("message") or notes.get("title")
    description = notes.get("description")
    labels = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return "\n".join(part.strip() for part in (summary, description, labels) if part and part.strip())


def delivery_id(alert: WebhookAlert) -> str:
    """The idempotency id of one delivery: the alert's fingerprint, when it started, and its status.

    Alertmanager resends the same (fingerprint, startsAt, status) on every repeat and retry, so a
    resend is a replay; a new firing after a resolve has a new startsAt and counts again.
    """
    fingerprint = alert.fingerprint or digest("labels", *(f"{k}={v}" for k, v in sorted(alert.labels.items())))[:16]
    return f"{fingerprint}:{alert.startsAt or ''}:{alert.status}"[:200]


def alert_signal(alert: WebhookAlert, *, source: str, tenant: str, max_text_chars: int) -> Signal:
    text = alert_text(alert)
    truncated = len(text) > max_text_chars
    extra: dict[str, Any] = {k: v for k, v in (("generator_url", alert.generatorURL),
                                               ("starts_at", alert.startsAt), ("ends_at", alert.endsAt),
                                               ("alert_fingerprint", alert.fingerprint)) if v}
    return Signal(
        text=text[:max_text_chars],
        tenant=tenant,
        title=alert.labels.get("alertname") or alert.annotations.get("summary") or None,
        service=alert.labels.get("service") or None,
        source=source,
        status=alert.status,
        severity=alert.labels.get("severity") or None,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        time=_event_time(alert),
        external_id=delivery_id(alert),
        truncated=truncated,
        extra=extra,
    )


def payload_signals(payload: AlertmanagerPayload | GrafanaPayload, *, source: str, tenant: str,
                    max_text_chars: int) -> list[Signal]:
    """One signal per alert of the notification, in order."""
    return [alert_signal(a, source=source, tenant=tenant, max_text_chars=max_text_chars) for a in payload.alerts]
