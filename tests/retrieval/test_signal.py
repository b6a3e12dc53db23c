"""Validation of ingest lines into `Signal` values (CONTRACT.md's ingest line)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrieval.errors import InvalidSignal
from retrieval.signal import Signal, signal_from_line, signal_from_mapping

CAP = 1000


def parse(obj: object, cap: int = CAP) -> Signal:
    return signal_from_mapping(obj, max_text_chars=cap)


def test_minimal_line_has_defaults() -> None:
    s = parse({"text": "disk full on /var"})
    assert s.text == "disk full on /var"
    assert s.tenant == "default"
    assert s.status == "firing"
    assert s.external_id is None
    assert s.time is None
    assert s.labels == {} and s.annotations == {} and s.extra == {}
    assert s.truncated is False


def test_all_known_fields() -> None:
    s = parse({
        "id": "a-1", "text": "boom", "title": "Boom", "service": "api", "source": "alertmanager",
        "status": "resolved", "labels": {"alertname": "X", "severity": "critical"},
        "annotations": {"summary": "s"}, "tenant": "acme", "time": "2026-01-02T03:04:05Z", "severity": "page",
    })
    assert (s.external_id, s.title, s.service, s.source, s.status, s.tenant, s.severity) == (
        "a-1", "Boom", "api", "alertmanager", "resolved", "acme", "page")
    assert s.labels == {"alertname": "X", "severity": "critical"}
    assert s.annotations == {"summary": "s"}
    assert s.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert s.extra == {}


@pytest.mark.parametrize("obj", [{}, {"text": ""}, {"text": "   \n\t"}, {"text": None}, {"text": 42},
                                 {"text": ["a"]}, {"title": "only a title"}])
def test_missing_or_empty_text_is_rejected(obj: dict) -> None:
    with pytest.raises(InvalidSignal, match="text"):
        parse(obj)


@pytest.mark.parametrize("obj", [[{"text": "x"}], "text", 3, None, True])
def test_non_object_is_rejected(obj: object) -> None:
    with pytest.raises(InvalidSignal, match="object"):
        parse(obj)


@pytest.mark.parametrize("status", ["open", "FIRING ", "ok", 1, True])
def test_bad_status_is_rejected(status: object) -> None:
    with pytest.raises(InvalidSignal, match="status"):
        parse({"text": "x", "status": status})


def test_absent_or_null_status_is_firing() -> None:
    assert parse({"text": "x", "status": None}).status == "firing"


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "", 1700000000, ["2026-01-01"]])
def test_bad_time_is_rejected(value: object) -> None:
    with pytest.raises(InvalidSignal, match="time"):
        parse({"text": "x", "time": value})


def test_time_with_offset_becomes_utc_and_naive_is_taken_as_utc() -> None:
    assert parse({"text": "x", "time": "2026-01-02T05:04:05+02:00"}).time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse({"text": "x", "time": "2026-01-02T03:04:05"}).time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_unknown_fields_are_kept_in_extra() -> None:
    s = parse({"text": "x", "region": "eu-west-1", "nested": {"a": [1, 2]}, "count": 3})
    assert s.extra == {"region": "eu-west-1", "nested": {"a": [1, 2]}, "count": 3}


@pytest.mark.parametrize(("raw", "expected"), [(7, "7"), ("7", "7"), (12.0, "12.0"), ("id with spaces", "id with spaces")])
def test_id_string_or_number(raw: object, expected: str) -> None:
    assert parse({"text": "x", "id": raw}).external_id == expected


@pytest.mark.parametrize("raw", [True, False, {"a": 1}, [1]])
def test_id_of_other_types_is_rejected(raw: object) -> None:
    with pytest.raises(InvalidSignal, match="id"):
        parse({"text": "x", "id": raw})


def test_nul_bytes_are_removed_from_text() -> None:
    s = parse({"text": "before\x00after"})
    assert "\x00" not in s.text
    assert s.text == "beforeafter"


def test_text_of_only_nul_bytes_has_no_text() -> None:
    with pytest.raises(InvalidSignal, match="text"):
        parse({"text": "\x00\x00"})


def test_huge_text_is_truncated_and_flagged() -> None:
    s = parse({"text": "a" * (CAP + 500)})
    assert s.truncated is True
    assert len(s.text) == CAP
    exact = parse({"text": "a" * CAP})
    assert exact.truncated is False and len(exact.text) == CAP


@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_maps_must_be_objects_and_values_become_strings(field: str) -> None:
    with pytest.raises(InvalidSignal, match=field):
        parse({"text": "x", field: ["a", "b"]})
    s = parse({"text": "x", field: {"n": 3, "s": "v", "b": True}})
    assert getattr(s, field) == {"n": "3", "s": "v", "b": "true"}


@pytest.mark.parametrize("field", ["title", "service", "source", "tenant"])
def test_string_fields_reject_objects(field: str) -> None:
    with pytest.raises(InvalidSignal, match=field):
        parse({"text": "x", field: {"a": 1}})


def test_blank_tenant_falls_back_to_default() -> None:
    assert parse({"text": "x", "tenant": "  "}).tenant == "default"


def test_line_parser_reports_json_and_utf8_errors() -> None:
    assert signal_from_line(b'{"text": "ok \xc3\xa9"}', max_text_chars=CAP).text == "ok \u00e9"
    with pytest.raises(InvalidSignal, match="UTF-8"):
        signal_from_line(b'{"text": "bad \xff"}', max_text_chars=CAP)
    with pytest.raises(InvalidSignal, match="JSON"):
        signal_from_line('{"text": "unterminated', max_text_chars=CAP)
