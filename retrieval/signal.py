"""The one `Signal` value every entry point produces, and the parser for ingest lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from retrieval.errors import InvalidSignal

Status = Literal["firing", "resolved"]
KNOWN_FIELDS = frozenset(
    {"id", "text", "title", "service", "source", "status", "labels", "annotations", "tenant", "time", "severity"}
)


@dataclass(frozen=True)
class Signal:
    """An alert or report, whatever it came through. `extra` keeps unknown input fields."""

    text: str
    tenant: str = "default"
    title: str | None = None
    service: str | None = None
    source: str | None = None
    status: Status = "firing"
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    time: datetime | None = None
    external_id: str | None = None
    fingerprint_hint: str | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alertname(self) -> str | None:
        return self.labels.get("alertname") or None


def _str_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidSignal(f"'{name}' must be an object of strings, got {type(value).__name__}")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise InvalidSignal(f"'{key}' must be a string")
    return str(value).strip() or None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 to an aware UTC datetime; naive times are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSignal("'time' must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidSignal(f"'time' is not ISO 8601: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def signal_from_mapping(obj: Any, *, max_text_chars: int, default_tenant: str = "default") -> Signal:
    """Validate one ingest-line object (CONTRACT.md) into a Signal, or raise InvalidSignal."""
    if not isinstance(obj, dict):
        raise InvalidSignal("a line must be a JSON object")
    text = obj.get("text")
    if isinstance(text, str):
        text = text.replace("\x00", "")  # before the emptiness check: NULs alone are no text
    if not isinstance(text, str) or not text.strip():
        raise InvalidSignal("missing 'text': every line needs a non-empty \"text\" string")
    truncated = len(text) > max_text_chars
    if truncated:
        text = text[:max_text_chars]
    status = obj.get("status") or "firing"
    if status not in ("firing", "resolved"):
        raise InvalidSignal(f"'status' must be 'firing' or 'resolved', got {status!r}")
    raw_id = obj.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (str, int, float))):
        raise InvalidSignal("'id' must be a string or a number")
    return Signal(
        text=text,
        tenant=_optional_str(obj, "tenant") or default_tenant,
        title=_optional_str(obj, "title"),
        service=_optional_str(obj, "service"),
        source=_optional_str(obj, "source"),
        status=status,
        severity=_optional_str(obj, "severity"),
        labels=_str_map(obj.get("labels"), "labels"),
        annotations=_str_map(obj.get("annotations"), "annotations"),
        time=parse_time(obj.get("time")),
        external_id=None if raw_id is None else str(raw_id),
        truncated=truncated,
        extra={k: v for k, v in obj.items() if k not in KNOWN_FIELDS},
    )


def signal_from_line(line: str | bytes, *, max_text_chars: int) -> Signal:
    """Decode one JSONL line (bytes are decoded as UTF-8, strictly) and validate it."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSignal(f"line is not valid UTF-8 (byte {exc.start})") from exc
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidSignal(f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    return signal_from_mapping(obj, max_text_chars=max_text_chars)
