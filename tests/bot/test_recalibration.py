"""Per-tenant recalibration end to end: answers about uncertain or folded pairs move that tenant's
thresholds, and intake then decides differently for that tenant only.

The pair score is pinned to the cosine and `TableEmbedder` fixes each pair's cosine, so the scores
the labels carry, and the ones the later reports get, are known exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session

from bot import labels
from bot.app import Services
from bot.intake import IngestResult
from bot.labels import Answer
from bot.lifecycle import merge_incidents, repoint, split_last_signal
from retrieval.fingerprint import masked_text
from retrieval.signal import Signal
from tests.fakes.embedder import TableEmbedder, basis, with_cosine

DEFAULTS = {"dedup_machine_threshold": 0.90, "dedup_machine_candidate": 0.80,
            "dedup_human_threshold": 0.70, "dedup_human_candidate": 0.50}
WORDS = ["checkout", "payments", "search", "login", "billing", "orders", "inventory", "shipping", "avatars",
         "reports", "exports", "webhooks"]


@pytest.fixture
def cosine_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.intake

    def cosine_only(new: Any, old: Any, cosine: float, *args: Any, **kwargs: Any) -> float:
        return cosine

    monkeypatch.setattr(bot.intake, "pair_score", cosine_only)


class Pairs:
    """Report texts in pairs: pair i's two reports have exactly the cosine asked for, other pairs 0."""

    def __init__(self) -> None:
        self.table: dict[str, np.ndarray] = {}

    def pair(self, i: int, cosine: float) -> tuple[str, str]:
        first = f"{WORDS[i]} is broken for everyone, pages do not load"
        second = f"people say {WORDS[i]} misbehaves since this morning"
        self.table[masked_text(first, "report")] = basis(2 * i)
        self.table[masked_text(second, "report")] = with_cosine(basis(2 * i), cosine, 2 * i + 1)
        return first, second


def report(svc: Services, tenant: str, text: str) -> IngestResult:
    [result] = svc.intake.process([Signal(text=text, tenant=tenant, source="slack")], [text])
    return result


def ask(svc: Services, tenant: str, first: str, second: str) -> tuple[IngestResult, IngestResult]:
    return report(svc, tenant, first), report(svc, tenant, second)


def test_same_answers_lower_the_tenants_threshold_and_only_that_tenants(
        make_services: Callable[..., Services], cosine_scores: None) -> None:
    pairs = Pairs()
    texts = [pairs.pair(i, 0.62) for i in range(6)]
    svc = make_services(TableEmbedder(pairs.table), **DEFAULTS)

    for first, second in texts[:5]:
        a, b = ask(svc, "acme", first, second)
        # 0.62 sits between the ask (0.50) and the auto (0.70) thresholds: a question.
        assert (b.decision, b.candidate) == ("new", a.incident_id)
        merge_incidents(svc.engine, b.incident_id, a.incident_id, answer=Answer("question", "U0ALICE"))  # type: ignore[arg-type]
        svc.calibration.recalibrate("acme")

    with Session(svc.engine) as session:
        taught = labels.labels_for(session, "acme")
        assert [(l.same, l.kind, l.via, l.answered_by) for l in taught] == [(True, "human", "question", "U0ALICE")] * 5
        assert [l.score for l in taught] == pytest.approx([0.62] * 5, abs=1e-4)
        learned = labels.stored_thresholds(session, "acme")["human"]
        assert labels.stored_thresholds(session, "other") == {}
    assert learned.duplicate < 0.62 and learned.candidate <= DEFAULTS["dedup_human_candidate"]

    first, second = texts[5]
    a, b = ask(svc, "acme", first, second)
    assert (b.decision, b.incident_id) == ("duplicate", a.incident_id)  # folded for acme now
    a, b = ask(svc, "other", first, second)
    assert (b.decision, b.candidate) == ("new", a.incident_id)  # still only asked for another tenant

    # Machine thresholds of acme are untouched (no machine labels).
    with Session(svc.engine) as session:
        assert svc.calibration.thresholds(session, "acme", human=False) is None


def test_split_answers_raise_the_tenants_threshold(make_services: Callable[..., Services], cosine_scores: None) -> None:
    pairs = Pairs()
    texts = [pairs.pair(i, 0.76) for i in range(5)]
    probe = pairs.pair(5, 0.75)
    svc = make_services(TableEmbedder(pairs.table), **DEFAULTS)

    for first, second in texts:
        a, b = ask(svc, "beta", first, second)
        assert (b.decision, b.incident_id) == ("duplicate", a.incident_id)  # 0.76 >= 0.70: folded
        split = split_last_signal(svc.engine, a.incident_id, answer=Answer("split", "U0BOB"))  # type: ignore[arg-type]
        repoint(svc.signal_index, split)
        svc.calibration.recalibrate("beta")

    with Session(svc.engine) as session:
        taught = labels.labels_for(session, "beta")
    assert [(l.same, l.via) for l in taught] == [(False, "split")] * 5
    assert [l.score for l in taught] == pytest.approx([0.76] * 5, abs=1e-4)
    with Session(svc.engine) as session:
        learned = svc.calibration.thresholds(session, "beta", human=True)
    assert learned is not None and learned.duplicate > 0.76

    a, b = ask(svc, "beta", *probe)
    assert (b.decision, b.candidate) == ("new", a.incident_id)  # a question now, no longer folded
    a, b = ask(svc, "gamma", *probe)
    assert (b.decision, b.incident_id) == ("duplicate", a.incident_id)  # folded as before elsewhere


def test_a_new_services_instance_reads_the_stored_thresholds(
        make_services: Callable[..., Services], cosine_scores: None) -> None:
    """Another replica (or a restart) sees what one process learned, through the stored values."""
    pairs = Pairs()
    texts = [pairs.pair(i, 0.62) for i in range(6)]
    svc = make_services(TableEmbedder(pairs.table), **DEFAULTS)
    for first, second in texts[:5]:
        a, b = ask(svc, "acme", first, second)
        merge_incidents(svc.engine, b.incident_id, a.incident_id, answer=Answer("question"))  # type: ignore[arg-type]
    with Session(svc.engine) as session:
        assert svc.calibration.thresholds(session, "acme", human=True) is None  # nothing recalibrated yet
    svc.calibration.recalibrate("acme")
    svc.close()

    again = make_services(TableEmbedder(pairs.table), **DEFAULTS)
    first, second = texts[5]
    a, b = ask(again, "acme", first, second)
    assert (b.decision, b.incident_id) == ("duplicate", a.incident_id)


def test_another_replica_picks_up_the_thresholds_after_its_refresh_interval(
        make_services: Callable[..., Services], cosine_scores: None) -> None:
    from bot.app import dedup_policy
    from bot.thresholds import TenantCalibration

    pairs = Pairs()
    texts = [pairs.pair(i, 0.62) for i in range(5)]
    svc = make_services(TableEmbedder(pairs.table), **DEFAULTS)
    for first, second in texts:
        a, b = ask(svc, "acme", first, second)
        merge_incidents(svc.engine, b.incident_id, a.incident_id, answer=Answer("question"))  # type: ignore[arg-type]
    now = [0.0]
    replica = TenantCalibration(svc.engine, dedup_policy(svc.settings), refresh_seconds=30.0, clock=lambda: now[0])
    with Session(svc.engine) as session:
        assert replica.thresholds(session, "acme", human=True) is None  # read and cached: nothing learned yet
        learned = svc.calibration.recalibrate("acme")["human"]  # this process learns
        assert learned.moved
        now[0] = 29.0
        assert replica.thresholds(session, "acme", human=True) is None  # still the cached value
    now[0] = 30.0
    with Session(svc.engine) as session:
        assert replica.thresholds(session, "acme", human=True) == learned.thresholds
