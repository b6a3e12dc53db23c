"""Split (the latest report out into a new incident) and the labelled pairs that merge, split and
answers store (bot/lifecycle.py, bot/labels.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot import incidents as repo
from bot import labels
from bot.app import Services
from bot.intake import IngestResult
from bot.labels import Answer
from bot.lifecycle import (IncidentNotFound, LifecycleError, confirm_distinct, merge_incidents, repoint,
                           resolve_incident, split_last_signal)
from bot.models import PairLabel, SignalRecord
from retrieval.fingerprint import masked_text
from retrieval.signal import Signal
from tests.bot.test_lifecycle import get, run
from tests.fakes.embedder import TableEmbedder, basis, with_cosine

A = "orders api returns gateway timeout from upstream inventory"
B = "inventory sync job stuck waiting on warehouse feed"
R1 = "checkout is failing for customers in the EU, they see an error page"
R2 = "EU shoppers report that checkout errors out before payment"
R3 = "customers in Europe cannot finish checkout, error page again"
R4 = "again customers in Europe cannot finish checkout"
THRESHOLDS = {"dedup_human_threshold": 0.70, "dedup_human_candidate": 0.50}


def signals_of(svc: Services, incident_id: int | None) -> list[int | None]:
    with Session(svc.engine) as s:
        return list(s.execute(select(SignalRecord.id).where(SignalRecord.incident_id == incident_id)
                              .order_by(SignalRecord.id)).scalars().all())  # type: ignore[arg-type]


def stored_labels(svc: Services, tenant: str = "default") -> list[PairLabel]:
    with Session(svc.engine) as s:
        return labels.labels_for(s, tenant)


@pytest.fixture
def cosine_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.intake

    monkeypatch.setattr(bot.intake, "pair_score", lambda new, old, cosine, *a, **k: cosine)


@pytest.fixture
def folded(make_services: Callable[..., Services], cosine_scores: None) -> tuple[Services, list[IngestResult]]:
    """Three chat reports folded into one incident by similarity (cosine 0.80 and 0.90 to the first)."""
    table = {masked_text(R1, "report"): basis(0), masked_text(R2, "report"): with_cosine(basis(0), 0.80, 1),
             masked_text(R3, "report"): with_cosine(basis(0), 0.90, 2),
             masked_text(R4, "report"): with_cosine(basis(0), 0.90, 2)}  # R4 reads exactly like R3
    svc = make_services(TableEmbedder(table), **THRESHOLDS)
    results = [run(svc, {"text": t, "source": "slack", "time": f"2026-05-01T{8 + i:02d}:00:00Z"})[0]
               for i, t in enumerate((R1, R2, R3))]
    assert [r.decision for r in results] == ["new", "duplicate", "duplicate"]
    return svc, results


def test_split_moves_the_latest_report_into_a_new_incident(folded: tuple[Services, list[IngestResult]]) -> None:
    svc, (r1, r2, r3) = folded
    original_id = r1.incident_id
    before = signals_of(svc, original_id)
    split = split_last_signal(svc.engine, original_id, answer=Answer("split", "U0BOB"))  # type: ignore[arg-type]

    original, new = get(svc, original_id), get(svc, split.new.id)
    assert original.occurrence_count == 2 and new.occurrence_count == 1
    assert signals_of(svc, original_id) == before[:2] and signals_of(svc, new.id) == before[2:]
    assert split.signal_id == before[2]
    # first/last seen follow the signals each incident keeps.
    assert repo.as_utc(original.last_seen).isoformat().startswith("2026-05-01T09:00:00")
    assert repo.as_utc(new.first_seen).isoformat().startswith("2026-05-01T10:00:00")
    assert repo.as_utc(new.last_seen) == repo.as_utc(new.first_seen)
    assert (new.status, new.kind, new.source, new.tenant, new.text) == ("open", "report", "slack", "default", R3)
    assert new.title == R3 and new.severity == original.severity
    assert new.open_key == new.fingerprint  # its exact repeats now land on it

    [label] = stored_labels(svc)
    assert (label.same, label.via, label.answered_by, label.kind) == (False, "split", "U0BOB", "human")
    assert {label.first_id, label.second_id} == {original_id, new.id}
    assert label.score == pytest.approx(0.90, abs=1e-3)  # the score R3 was folded with


def test_after_a_split_repeats_and_look_alikes_go_to_the_new_incident(
        folded: tuple[Services, list[IngestResult]]) -> None:
    svc, (r1, _, _) = folded
    split = split_last_signal(svc.engine, r1.incident_id)  # type: ignore[arg-type]
    repoint(svc.signal_index, split)
    svc.signal_index.flush()
    again, = run(svc, {"text": R3, "source": "slack"})
    assert (again.decision, again.incident_id) == ("duplicate", split.new.id)
    assert get(svc, split.new.id).occurrence_count == 2
    # A look-alike is matched through the split-out report's vector, which now names the new incident.
    alike, = run(svc, {"text": R4, "source": "slack"})
    assert (alike.decision, alike.incident_id) == ("duplicate", split.new.id)
    assert get(svc, r1.incident_id).occurrence_count == 2


def test_split_of_exact_repeats_leaves_the_key_with_the_original(services: Services) -> None:
    a1, a2, _ = run(services, A, A, B)
    split = split_last_signal(services.engine, a1.incident_id)  # type: ignore[arg-type]
    assert split.new.open_key is None and get(services, a1.incident_id).open_key is not None
    assert get(services, a1.incident_id).occurrence_count == 1
    [label] = stored_labels(services)
    assert (label.via, label.answered_by, label.same) == ("cli-split", None, False)
    assert label.score is None  # an exact repeat was never scored against anything
    again, = run(services, A)
    assert again.incident_id == a1.incident_id


def test_split_refusals(services: Services) -> None:
    a, b, c1, _ = run(services, A, B, {"text": "disk full on db-3"}, {"text": "disk full on db-3"})
    with pytest.raises(LifecycleError, match="only one report"):
        split_last_signal(services.engine, a.incident_id)  # type: ignore[arg-type]
    with pytest.raises(IncidentNotFound, match="999"):
        split_last_signal(services.engine, 999)
    merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="merged into"):
        split_last_signal(services.engine, a.incident_id)  # type: ignore[arg-type]
    resolve_incident(services.engine, c1.incident_id)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="resolved"):
        split_last_signal(services.engine, c1.incident_id)  # type: ignore[arg-type]
    assert get(services, c1.incident_id).occurrence_count == 2
    with pytest.raises(IncidentNotFound):
        split_last_signal(services.engine, b.incident_id, tenant="globex")  # type: ignore[arg-type]


def test_merge_labels_the_pair_same_with_the_asked_score(make_services: Callable[..., Services],
                                                         cosine_scores: None) -> None:
    table = {masked_text(R1, "report"): basis(0), masked_text(R2, "report"): with_cosine(basis(0), 0.60, 1)}
    svc = make_services(TableEmbedder(table), **THRESHOLDS)
    first, second = (run(svc, {"text": t, "source": "slack"})[0] for t in (R1, R2))
    assert second.candidate == first.incident_id
    merge_incidents(svc.engine, second.incident_id, first.incident_id)  # type: ignore[arg-type]
    [label] = stored_labels(svc)
    assert (label.same, label.via, label.kind) == (True, "cli-merge", "human")
    assert label.score == pytest.approx(0.60, abs=1e-3)


def test_a_second_answer_for_a_pair_replaces_the_first(services: Services) -> None:
    a, b = run(services, A, B)
    confirm_distinct(services.engine, b.incident_id, a.incident_id, Answer("question", "U1"))  # type: ignore[arg-type]
    [label] = stored_labels(services)
    assert (label.same, label.answered_by) == (False, "U1")
    merge_incidents(services.engine, a.incident_id, b.incident_id, answer=Answer("merge", "U2"))  # type: ignore[arg-type]
    [label] = stored_labels(services)
    assert (label.same, label.via, label.answered_by) == (True, "merge", "U2")
    assert label.kind == "machine"  # two machine lines are judged on the machine thresholds


def test_labels_are_per_tenant(services: Services) -> None:
    [a] = run(services, {"text": A, "tenant": "acme"})
    [b] = run(services, {"text": B, "tenant": "acme"})
    [c] = run(services, {"text": A, "tenant": "globex"})
    confirm_distinct(services.engine, a.incident_id, b.incident_id, Answer("question"))  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="tenant"):
        confirm_distinct(services.engine, a.incident_id, c.incident_id, Answer("question"))  # type: ignore[arg-type]
    assert len(stored_labels(services, "acme")) == 1 and stored_labels(services, "globex") == []
