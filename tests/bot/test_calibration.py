"""Per-tenant recalibration (bot/calibration.py): thresholds chosen from labelled pair scores."""

from __future__ import annotations

import pytest

from bot.calibration import (MARGIN, MAX_STEP, MIN_BAND, MIN_LABELS, LabelledScore, auto_cost, ask_cost,
                             calibrate)
from retrieval.dedup import Thresholds

DEFAULT = Thresholds(0.70, 0.50)


def same(*scores: float) -> list[LabelledScore]:
    return [LabelledScore(s, True) for s in scores]


def different(*scores: float) -> list[LabelledScore]:
    return [LabelledScore(s, False) for s in scores]


def test_too_few_labels_keep_the_defaults() -> None:
    result = calibrate(same(0.60, 0.61, 0.62, 0.63)[: MIN_LABELS - 1], DEFAULT)
    assert result.thresholds == DEFAULT and not result.moved and result.labels == MIN_LABELS - 1


def test_labels_that_agree_with_the_defaults_move_nothing() -> None:
    labels = same(0.80, 0.85, 0.90) + different(0.30, 0.40, 0.45)
    result = calibrate(labels, DEFAULT)
    assert result.thresholds == DEFAULT and not result.moved


def test_same_answers_below_the_auto_threshold_lower_it_just_past_them() -> None:
    labels = same(0.60, 0.62, 0.64, 0.66, 0.68)
    result = calibrate(labels, DEFAULT)
    assert result.moved
    assert result.thresholds.duplicate == pytest.approx(0.60 - MARGIN)
    assert auto_cost(labels, result.thresholds.duplicate) == 0
    assert result.thresholds.candidate == DEFAULT.candidate  # nothing asked about sits below it


def test_different_answers_above_the_auto_threshold_raise_it_just_past_them() -> None:
    labels = different(0.72, 0.74, 0.75, 0.76, 0.78)
    result = calibrate(labels, DEFAULT)
    assert result.thresholds.duplicate == pytest.approx(0.78 + MARGIN)
    assert auto_cost(labels, result.thresholds.duplicate) == 0


def test_thresholds_never_move_more_than_the_step() -> None:
    # The labels ask for 0.38; the step allows 0.55, which still fixes the pair at 0.56.
    low = calibrate(same(0.56, 0.40, 0.41, 0.42, 0.43), DEFAULT)
    assert low.thresholds.duplicate == pytest.approx(DEFAULT.duplicate - MAX_STEP)
    high = calibrate(different(0.84, 0.91, 0.92, 0.93, 0.94), DEFAULT)
    assert high.thresholds.duplicate == pytest.approx(DEFAULT.duplicate + MAX_STEP)


def test_labels_the_step_cannot_reach_move_nothing() -> None:
    # Folding pairs at 0.2 would need a threshold far below what the step allows: nothing is gained.
    assert not calibrate(same(0.20, 0.21, 0.22, 0.23, 0.24), DEFAULT).moved


def test_the_ask_band_stays_below_the_auto_band() -> None:
    # Same answers pull the auto threshold down to 0.56: the ask threshold (0.60) must follow below it.
    labels = same(0.58, 0.59, 0.60, 0.61, 0.62)
    th = calibrate(labels, Thresholds(0.70, 0.60)).thresholds
    assert 0.56 <= th.duplicate < 0.58 and auto_cost(labels, th.duplicate) == 0
    assert th.candidate == pytest.approx(th.duplicate - MIN_BAND)


def test_overlapping_labels_pick_the_cut_with_the_fewest_weighted_errors() -> None:
    # Mostly same above 0.62, mostly different below; one stray of each side.
    labels = same(0.63, 0.65, 0.67, 0.69, 0.58) + different(0.55, 0.57, 0.59, 0.60, 0.66)
    result = calibrate(labels, DEFAULT)
    chosen = auto_cost(labels, result.thresholds.duplicate)
    grid = [round(DEFAULT.duplicate - MAX_STEP + i / 1000, 3) for i in range(int(2 * MAX_STEP * 1000) + 1)]
    assert chosen == min(auto_cost(labels, t) for t in grid) < auto_cost(labels, DEFAULT.duplicate)


def test_needless_questions_raise_the_ask_threshold() -> None:
    labels = different(0.52, 0.54, 0.55, 0.56) + same(0.75)
    th = calibrate(labels, DEFAULT).thresholds
    assert th.duplicate == DEFAULT.duplicate
    assert th.candidate == pytest.approx(0.56 + MARGIN)
    assert ask_cost(labels, th.candidate, th.duplicate) == 0


def test_the_ask_threshold_does_not_rise_past_a_same_answer() -> None:
    # The "different" at 0.66 holds the auto threshold; the ask threshold rises past the needless
    # questions at 0.51-0.53 but stops below the "same" at 0.56, which would then never be asked.
    labels = different(0.51, 0.52, 0.53, 0.66) + same(0.56, 0.75)
    th = calibrate(labels, DEFAULT).thresholds
    assert th.duplicate == DEFAULT.duplicate
    assert 0.53 < th.candidate < 0.56


def test_a_missed_same_pair_below_the_ask_threshold_lowers_it() -> None:
    labels = same(0.42, 0.44) + different(0.10, 0.20, 0.30)
    th = calibrate(labels, DEFAULT).thresholds
    assert th.candidate == pytest.approx(0.42 - MARGIN)
    assert th.duplicate == DEFAULT.duplicate


def test_the_fast_costs_agree_with_their_definitions() -> None:
    import random

    from bot.calibration import _Sorted

    rng = random.Random(3)
    labels = [LabelledScore(round(rng.uniform(0.3, 0.9), 2), rng.random() < 0.5) for _ in range(200)]
    counts = _Sorted(labels)
    for t in [i / 100 for i in range(20, 100)] + [l.score for l in labels]:
        assert counts.auto_cost(t) == auto_cost(labels, t)
        assert counts.ask_cost(t, 0.7) == ask_cost(labels, t, 0.7)
        assert counts.ask_cost(t, t - 0.1) == ask_cost(labels, t, t - 0.1)
