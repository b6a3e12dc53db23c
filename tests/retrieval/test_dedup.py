"""Dedup scoring and decisions: Drain rule for logs, entity rule for alerts, meaning plus cues for reports."""

from __future__ import annotations

from retrieval import dedup
from retrieval.dedup import (Candidate, Evidence, Thresholds, classify, identity_conflict, is_human, pair_score,
                             raised_severity, report_score)
from retrieval.masking import mask, template_tokens


def ev(kind: str, text: str, **kw: object) -> Evidence:
    return Evidence(kind, tuple(template_tokens(mask(text))), **kw)  # type: ignore[arg-type]


def test_log_lines_differing_in_a_word_are_one_template() -> None:
    a = ev("log", "Rejected login for alice from 10.0.0.1")
    b = ev("log", "Rejected login for bob from 10.0.0.9")
    assert pair_score(a, b, cosine=0.1) > 0.8
    assert pair_score(a, ev("log", "Accepted login"), cosine=0.99) == 0.0  # cosine alone never merges logs


def test_alert_texts_differing_in_a_word_name_different_entities() -> None:
    a = ev("alert", "Replica set api in payments namespace is degraded 50%")
    assert pair_score(a, ev("alert", "Replica set api in payments namespace is degraded 75%"), 0.9) == 1.0
    assert pair_score(a, ev("alert", "Replica set api in billing namespace is degraded 50%"), 0.99) == 0.0


def test_human_pairs_exclude_log_lines() -> None:
    assert is_human("report", "alert") and is_human("report", "report")
    assert not is_human("report", "log") and not is_human("alert", "alert")
    assert pair_score(ev("report", "the site is down for everyone"), ev("log", "site down"), 0.99) == 0.0


def test_a_report_repeated_with_other_values_or_punctuation_is_a_copy() -> None:
    a = ev("report", "queue lag alert fired on prod for the tracking consumer, 900 msgs behind")
    again = ev("report", "Queue lag alert fired on prod for the tracking consumer: 4000 msgs behind!")
    changed = ev("report", "queue lag alert fired on staging for the tracking consumer, 120 msgs behind")
    assert pair_score(a, again, cosine=0.3) == 1.0
    # A changed word is not a copy: the pair is judged on meaning, words and cues instead.
    assert pair_score(changed, a, cosine=0.3, lexical=0.2) == report_score(0.3, 0.2, 0.0)


def test_report_score_rises_with_meaning_and_words_and_falls_with_staleness() -> None:
    fresh = report_score(0.5, 0.4, 0.0, gap=0)
    assert fresh == 0.45
    assert report_score(0.6, 0.4, 0.0) > fresh
    assert report_score(0.5, 0.4, 0.0, gap=int(dedup.RECENCY_SCALE)) < fresh
    assert report_score(0.5, 0.4, 0.0, gap=10_000) >= fresh - dedup.RECENCY_PENALTY - 1e-9


def test_report_pair_score_uses_cues() -> None:
    a = ev("report", "exports failing for the big accounts, OPS-9 opened", cues={"ticket": ["OPS-9"]})
    b = ev("report", "someone look at the csv job please", cues={"ticket": ["OPS-9"]})
    c = ev("report", "someone look at the csv job please", cues={"ticket": ["OPS-1"]})
    assert pair_score(a, b, 0.4, 0.1) > pair_score(a, c, 0.4, 0.1)


def test_identity_conflict_needs_two_identities() -> None:
    assert identity_conflict(Evidence("alert", identity="a"), Evidence("alert", identity="b"))
    assert not identity_conflict(Evidence("alert", identity="a"), Evidence("alert"))


def test_classify_thresholds_and_regression() -> None:
    t = Thresholds(duplicate=0.7, candidate=0.5)
    assert classify([], t).decision == "new"
    dup = classify([Candidate(1, "open", 0.3, 0.9), Candidate(2, "open", 0.8, 0.6)], t)
    assert (dup.decision, dup.incident_id, dup.similarity) == ("duplicate", 1, 0.8)
    assert classify([Candidate(3, "resolved", 0.9, 0.8)], t).decision == "regression"
    maybe = classify([Candidate(4, "open", 0.6, 0.6)], t)
    assert (maybe.decision, maybe.candidate) == ("new", 4)
    blocked = classify([Candidate(5, "open", 0.99, 0.99, identity_conflict=True)], t)
    assert blocked.decision == "new" and blocked.candidate == 5


def test_raised_severity_steps_up() -> None:
    assert raised_severity("info") == "warning"
    assert raised_severity("critical") == "critical"
    assert raised_severity("odd") == "critical"


def test_pasted_alert_copies_with_a_changed_word_are_different_entities() -> None:
    mon = ev("alert", "[FIRING:1] QueueLag prod-eu\ngroup=ingest lag 900 msgs\nfired Mon 10:00")
    wed = ev("alert", "[FIRING:1] QueueLag prod-eu\ngroup=ingest lag 700 msgs\nfired Wed 09:00")
    again = ev("alert", "[FIRING:1] QueueLag prod-eu\ngroup=ingest lag 950 msgs\nfired Mon 10:05")
    assert identity_conflict(mon, wed)
    assert not identity_conflict(mon, again)
    # A report is never an entity conflict: it is judged on meaning.
    assert not identity_conflict(mon, ev("report", "queue lag on prod-eu again, monday's problem?"))
