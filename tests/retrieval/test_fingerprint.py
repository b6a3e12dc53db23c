"""Fingerprints and kinds: alert identity from labels, log vs alert vs report from source and text."""

from __future__ import annotations

from retrieval.fingerprint import is_prose, label_identity, masked_text, signal_kind, text_fingerprint

PROSE = "hey, is anyone else seeing the billing page hang when we open an invoice? it started an hour ago"


def test_alertname_or_alerting_source_means_alert() -> None:
    assert signal_kind("anything", {"alertname": "DiskFull"}, None) == "alert"
    assert signal_kind("anything", {}, "Alertmanager") == "alert"


def test_chat_source_means_report_whatever_the_text() -> None:
    assert signal_kind("503 503 503", {}, "slack") == "report"


def test_prose_is_a_report_and_machine_line_from_a_stream_is_a_log() -> None:
    assert signal_kind(PROSE, {}, "some-stream") == "report"
    assert signal_kind("worker=7 state=IDLE queue=q_42 depth=0", {}, "some-stream") == "log"


def test_machine_text_without_source_or_over_several_lines_is_an_alert() -> None:
    assert signal_kind("worker=7 state=IDLE queue=q_42 depth=0", {}, None) == "alert"
    assert signal_kind("[FIRING:1] QueueStuck\nqueue=q_42 depth=9000", {}, "some-stream") == "alert"


def test_formal_sentence_without_source_is_not_a_report() -> None:
    formal = "The replica set in the payments namespace has not been available for more than ten minutes."
    assert is_prose(formal)
    assert signal_kind(formal, {}, None) == "alert"
    assert signal_kind(formal, {}, "some-stream") == "report"


def test_is_prose_rejects_key_value_lines() -> None:
    assert not is_prose("ts=1 lvl=warn msg=retry component=sync attempt=3 of=5 in=the for=a")
    assert is_prose(PROSE)


def test_label_identity_ignores_volatile_labels_and_folds_replicas() -> None:
    base = {"alertname": "HighErrors", "cluster": "c1", "namespace": "shop", "pod": "cart-5f7d8c9b6d-x2k4q"}
    other_replica = {**base, "pod": "cart-5f7d8c9b6d-zxqwv", "severity": "critical"}
    assert label_identity(base) == label_identity({**base, "severity": "warning"})
    assert label_identity(base) == label_identity(other_replica)
    assert label_identity({**base, "cluster": "c2"}) != label_identity(base)


def test_numbered_names_are_different_entities() -> None:
    a = {"alertname": "NodeDown", "node": "worker-1"}
    assert label_identity(a) != label_identity({**a, "node": "worker-2"})
    # A DaemonSet pod (one per node) keeps its suffix.
    b = {"alertname": "Flapping", "pod": "agent-x7k2p"}
    assert label_identity(b) != label_identity({**b, "pod": "agent-q9m4t"})
    assert label_identity({"cluster": "c1"}) is None


def test_statefulset_ordinals_and_ports_do_not_split_identity() -> None:
    a = {"alertname": "Lagging", "pod": "store-0", "instance": "db1:9100"}
    b = {"alertname": "Lagging", "pod": "store-2", "instance": "db1:9200"}
    assert label_identity(a) == label_identity(b)


def test_text_fingerprint_depends_on_kind_and_masked_text() -> None:
    a = masked_text("retry 3 of host 10.0.0.1", "log")
    b = masked_text("retry 9 of host 10.0.0.7", "log")
    assert text_fingerprint(a, "log") == text_fingerprint(b, "log")
    assert text_fingerprint(a, "log") != text_fingerprint(a, "alert")
