"""Per-tenant recalibration: the auto-duplicate and ask thresholds that best fit a tenant's labelled pairs.

Pure: labelled scores and the configured defaults in, thresholds out. Each threshold is chosen to
minimise weighted errors over the labels; among equally good values the one closest to the default
wins (after those with no labelled score within half a `MARGIN`), so thresholds move only as far
as the labels demand, never more than `MAX_STEP` from the
default, and not at all before `MIN_LABELS` labelled pairs of that kind exist.

- Auto threshold: a "different" pair at or above it is a wrong fold (weight `WRONG_FOLD`, since a
  folded report hides an incident); a "same" pair below it is a missed fold (weight 1: it is asked).
- Ask threshold: a "same" pair below it is never even asked (weight `MISSED_ASK`); a "different"
  pair between it and the auto threshold is a needless question (weight 1). The ask band stays at
  least `MIN_BAND` below the auto threshold.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from retrieval.dedup import Thresholds

MIN_LABELS = 5      # labelled pairs of one kind before its thresholds move at all
MAX_STEP = 0.15     # the furthest a threshold moves from its configured default
MARGIN = 0.02       # a moved threshold keeps this distance from the labelled score it moved past
MIN_BAND = 0.05     # the ask threshold stays at least this far below the auto threshold
WRONG_FOLD = 2.0    # cost of a "different" pair folded automatically
MISSED_ASK = 2.0    # cost of a "same" pair below the ask threshold (nobody is asked)


@dataclass(frozen=True)
class LabelledScore:
    score: float
    same: bool


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    labels: int        # labelled scores it was chosen from
    moved: bool        # False: the defaults (too few labels, or the labels agree with them)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _options(scores: Iterable[float], default: float, low: float, high: float) -> list[float]:
    """Threshold values worth trying: the default, and beside and between each pair of labelled scores."""
    ordered = sorted(set(scores))
    points = {default}
    for i, s in enumerate(ordered):
        points.update((s - MARGIN, s + MARGIN))
        if i + 1 < len(ordered):
            points.add((s + ordered[i + 1]) / 2)
    return sorted({round(_clamp(p, low, high), 6) for p in points})


def _best(options: Sequence[float], cost: Callable[[float], float], default: float) -> float:
    """The cheapest option; then one whose neighbourhood (half a `MARGIN` either side) is as cheap,
    so a threshold never sits right on a labelled score; then the one nearest the default."""
    def key(t: float) -> tuple[float, float, float, float]:
        robust = max(cost(t - MARGIN / 2), cost(t), cost(t + MARGIN / 2))
        return (round(cost(t), 9), round(robust, 9), round(abs(t - default), 9), t)
    return min(options, key=key)


def auto_cost(labels: Sequence[LabelledScore], threshold: float) -> float:
    """Weighted errors of folding every pair scoring at least `threshold`."""
    return sum(WRONG_FOLD if (l.score >= threshold and not l.same) else 0.0 for l in labels) + sum(
        1.0 for l in labels if l.same and l.score < threshold)


def ask_cost(labels: Sequence[LabelledScore], ask: float, auto: float) -> float:
    """Weighted errors of asking about pairs scoring in [ask, auto)."""
    return sum(MISSED_ASK for l in labels if l.same and l.score < ask) + sum(
        1.0 for l in labels if not l.same and ask <= l.score < auto)


class _Sorted:
    """The labels' scores split by answer and sorted: each cost above in O(log n), same values."""

    def __init__(self, labels: Sequence[LabelledScore]) -> None:
        self.same = sorted(l.score for l in labels if l.same)
        self.different = sorted(l.score for l in labels if not l.same)

    def auto_cost(self, threshold: float) -> float:
        folded_different = len(self.different) - bisect_left(self.different, threshold)
        return WRONG_FOLD * folded_different + bisect_left(self.same, threshold)

    def ask_cost(self, ask: float, auto: float) -> float:
        asked_different = max(bisect_left(self.different, auto) - bisect_left(self.different, ask), 0)
        return MISSED_ASK * bisect_left(self.same, ask) + asked_different


def calibrate(labels: Sequence[LabelledScore], default: Thresholds, *, min_labels: int = MIN_LABELS,
              max_step: float = MAX_STEP) -> Calibration:
    """The thresholds for one tenant and kind of source, from its labelled pair scores."""
    if len(labels) < min_labels:
        return Calibration(default, len(labels), False)
    scores = [l.score for l in labels]
    counts = _Sorted(labels)
    low, high = default.duplicate - max_step, default.duplicate + max_step
    options = _options(scores, default.duplicate, low, high)
    auto = _best(options, counts.auto_cost, default.duplicate)

    ask_high = min(default.candidate + max_step, auto - MIN_BAND)
    ask_low = min(default.candidate - max_step, ask_high)
    ask_default = _clamp(default.candidate, ask_low, ask_high)
    ask_options = _options(scores, ask_default, ask_low, ask_high)
    ask = _best(ask_options, lambda t: counts.ask_cost(t, auto), ask_default)

    result = Thresholds(round(auto, 4), round(ask, 4))
    moved = abs(result.duplicate - default.duplicate) > 1e-9 or abs(result.candidate - default.candidate) > 1e-9
    return Calibration(result if moved else default, len(labels), moved)
