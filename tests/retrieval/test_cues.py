"""Cues and lexical overlap: what is extracted, what is ignored, how agreement moves the score."""

from __future__ import annotations

import pytest

from retrieval.cues import content_terms, cue_adjustment, extract_cues, idf, term_overlap


def test_extracts_tickets_codes_errors_and_days() -> None:
    cues = extract_cues("OPS-1234: checkout answers 503s since Tue, ConnectionResetError in cart-api")
    assert cues["ticket"] == ["OPS-1234"]
    assert cues["code"] == ["503"]
    assert cues["error"] == ["ConnectionResetError"]
    assert cues["day"] == ["tuesday"]
    assert "cart-api" in cues["service"]


def test_pronoun_us_and_preposition_in_are_not_regions() -> None:
    cues = extract_cues("it is slow for us in the dashboard, sign-in works")
    assert cues["region"] == []


def test_regions_and_environments_from_words_and_identifiers() -> None:
    cues = extract_cues("errors on stg-ap only, EU users fine, production untouched")
    assert cues["env"] == ["prod", "staging"]
    assert cues["region"] == ["ap", "eu"]


def test_numbers_inside_ids_are_not_status_codes() -> None:
    assert extract_cues("order 4500123 and build v1.404.2 and port :5000")["code"] == []


def test_shared_ticket_helps_and_conflicting_place_or_day_hurts() -> None:
    a = extract_cues("OPS-77 stuck exports on prod-eu Monday")
    assert cue_adjustment(a, extract_cues("still OPS-77")) > 0
    assert cue_adjustment(a, extract_cues("stuck exports on prod-us")) < 0
    assert cue_adjustment(a, extract_cues("stuck exports again Wednesday")) < 0
    assert cue_adjustment(a, extract_cues("stuck exports")) == 0


def test_content_terms_drop_function_words_and_counts_and_fold_plurals() -> None:
    terms = content_terms("We see 3 failed exports from the report-builder, HTTP 500s")
    assert "we" not in terms and "the" not in terms and "3" not in terms
    assert {"export", "report-builder", "builder", "500"} <= set(terms)


def test_term_overlap_weights_rare_terms_more() -> None:
    counts = {"export": 1, "slow": 40}
    weight = lambda t: idf(counts.get(t, 0), 50)  # noqa: E731
    rare = term_overlap(["export", "slow", "a1"], ["export", "b2"], weight)
    common = term_overlap(["export", "slow", "a1"], ["slow", "b2"], weight)
    assert rare > common > 0
    assert term_overlap([], ["x"], weight) == 0.0
    assert term_overlap(["x", "y"], ["x", "y"], weight) == pytest.approx(1.0)
