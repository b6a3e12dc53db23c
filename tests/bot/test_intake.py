"""`Intake.process`: the exact stage, the vector stage, batches as streams, tenants, retries.

Runs on SQLite and (when configured) PostgreSQL, with embedded Qdrant in a temp dir and a fake
embedder: `TableEmbedder` fixes the cosine between two texts exactly. Thresholds are pinned per
test, not the defaults.

The vector-stage tests check intake's part of the job (search by tenant, the batch's own points,
merged incidents, thresholds per kind, classify's decision) with the pair score replaced by the
plain cosine (`cosine_scores`), so they do not depend on how retrieval/dedup.py weighs templates,
terms and cues; a few tests at the end run the real scoring on log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot.app import Services
from bot.candidates import prepare
from bot.intake import IngestResult
from bot.lifecycle import resolve_incident
from bot.models import Incident, SignalRecord
from retrieval.signal import Signal, signal_from_mapping
from tests.fakes.embedder import TableEmbedder, basis, with_cosine

# Pinned thresholds: machine (logs, alerts) and human (reports).
PINNED = {"dedup_machine_threshold": 0.90, "dedup_machine_candidate": 0.80,
          "dedup_human_threshold": 0.70, "dedup_human_candidate": 0.50}

# Short machine lines, no numbers, so masking leaves them as they are. Lines get source "app"
# unless they name one: one line from a named stream is a log event (kind "log").
A = "checkout worker lost connection to redis primary"
B = "checkout worker lost connection to redis replica"
LOG_SOURCE = "app"


def sig(obj: dict[str, Any] | str, svc: Services | None = None) -> Signal:
    obj = {"source": LOG_SOURCE, **({"text": obj} if isinstance(obj, str) else obj)}
    cap = svc.settings.max_text_chars if svc is not None else 16_000
    return signal_from_mapping(obj, max_text_chars=cap)


def run(svc: Services, *lines: dict[str, Any] | str, ids: list[Any] | None = None) -> list[IngestResult]:
    signals = [sig(line, svc) for line in lines]
    return svc.intake.process(signals, ids if ids is not None else list(range(1, len(signals) + 1)))


def incidents(svc: Services) -> list[Incident]:
    with Session(svc.engine) as s:
        return list(s.exec(select(Incident).order_by(Incident.id)).scalars().all())  # type: ignore[call-overload]


def incident(svc: Services, incident_id: int | None) -> Incident:
    assert incident_id is not None
    with Session(svc.engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None
        return row


def signal_count(svc: Services, **where: Any) -> int:
    stmt = select(func.count()).select_from(SignalRecord)
    for key, value in where.items():
        stmt = stmt.where(getattr(SignalRecord, key) == value)
    with Session(svc.engine) as s:
        return int(s.execute(stmt).scalar_one())


def pinned(make_services: Callable[..., Services], table: dict[str, Any] | None = None) -> Services:
    return make_services(TableEmbedder(table or {}), **PINNED)


@pytest.fixture
def cosine_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair score is the cosine: the vector-stage tests control it through TableEmbedder."""
    import bot.intake

    def cosine_only(new: Any, old: Any, cosine: float, *args: Any, **kwargs: Any) -> float:
        return cosine

    monkeypatch.setattr(bot.intake, "pair_score", cosine_only)


# -- exact stage ---------------------------------------------------------------------------------


def test_first_signal_opens_a_new_incident(services: Services) -> None:
    [r] = run(services, {"text": A, "service": "checkout", "title": "Redis down"})
    assert r.decision == "new"
    assert r.similarity is None  # nothing to compare with
    assert r.candidate is None and r.error is None
    row = incident(services, r.incident_id)
    assert (row.status, row.occurrence_count, row.title, row.service, row.tenant) == (
        "open", 1, "Redis down", "checkout", "default")
    assert row.regression_of is None
    assert signal_count(services, incident_id=r.incident_id) == 1


def test_repeat_modulo_numbers_is_an_exact_duplicate(services: Services) -> None:
    first, = run(services, "GET /orders/1234 failed after 5003 ms from 10.0.0.12")
    embedded_before = services.embedder.texts_embedded  # type: ignore[attr-defined]
    second, = run(services, "GET /orders/98 failed after 12 ms from 10.9.1.7")
    assert second.decision == "duplicate"
    assert second.incident_id == first.incident_id
    assert second.similarity == 1.0
    # The exact stage decided: no embedding was needed for the repeat.
    assert services.embedder.texts_embedded == embedded_before  # type: ignore[attr-defined]
    row = incident(services, first.incident_id)
    assert row.occurrence_count == 2
    assert len(incidents(services)) == 1
    assert signal_count(services, incident_id=first.incident_id) == 2


def test_last_seen_moves_forward_only(services: Services) -> None:
    first, = run(services, {"text": A, "time": "2026-03-01T10:00:00Z"})
    run(services, {"text": A, "time": "2026-03-01T12:00:00Z"})
    run(services, {"text": A, "time": "2026-03-01T11:00:00Z"})  # late delivery of an older event
    row = incident(services, first.incident_id)
    assert row.occurrence_count == 3
    assert row.first_seen.replace(tzinfo=None).isoformat() == "2026-03-01T10:00:00"
    assert row.last_seen.replace(tzinfo=None).isoformat() == "2026-03-01T12:00:00"


def test_repeat_after_resolve_is_a_linked_regression_with_raised_severity(services: Services) -> None:
    first, = run(services, {"text": A, "severity": "warning"})
    resolve_incident(services.engine, first.incident_id)  # type: ignore[arg-type]
    again, = run(services, {"text": A, "severity": "warning"})
    assert again.decision == "regression"
    assert again.incident_id != first.incident_id
    new = incident(services, again.incident_id)
    assert new.regression_of == first.incident_id
    assert new.status == "open"
    assert new.severity == "critical"  # one step above the warning it repeats
    assert incident(services, first.incident_id).status == "resolved"
    # And the regression is itself the open incident now: the next repeat folds into it.
    third, = run(services, A)
    assert (third.decision, third.incident_id) == ("duplicate", again.incident_id)


def test_regression_of_an_info_incident_becomes_warning(services: Services) -> None:
    first, = run(services, {"text": A, "severity": "info"})
    resolve_incident(services.engine, first.incident_id)  # type: ignore[arg-type]
    again, = run(services, {"text": A, "severity": "info"})
    assert again.decision == "regression"
    assert incident(services, again.incident_id).severity == "warning"


def test_resolved_signal_resolves_the_open_incident(services: Services) -> None:
    first, = run(services, {"text": A})
    closing, = run(services, {"text": A, "status": "resolved"})
    assert closing.decision == "duplicate"
    assert closing.incident_id == first.incident_id
    row = incident(services, first.incident_id)
    assert row.status == "resolved"
    assert row.resolved_at is not None
    # Resolved means the next firing is a regression, not a duplicate of the closed incident.
    again, = run(services, {"text": A})
    assert again.decision == "regression"
    assert incident(services, again.incident_id).regression_of == first.incident_id


def test_tenants_are_isolated(services: Services) -> None:
    a, = run(services, {"text": A, "tenant": "acme"})
    b, = run(services, {"text": A, "tenant": "globex"})
    assert a.decision == b.decision == "new"
    assert a.incident_id != b.incident_id
    assert {i.tenant for i in incidents(services)} == {"acme", "globex"}
    # A repeat in one tenant counts only there.
    again, = run(services, {"text": A, "tenant": "globex"})
    assert (again.decision, again.incident_id) == ("duplicate", b.incident_id)
    assert incident(services, a.incident_id).occurrence_count == 1
    assert incident(services, b.incident_id).occurrence_count == 2


def test_tenants_are_isolated_in_the_vector_stage(make_services: Callable[..., Services], cosine_scores: None) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.99, 1)})
    a, = run(svc, {"text": A, "tenant": "acme"})
    b, = run(svc, {"text": B, "tenant": "globex"})  # near-identical vector, other tenant
    assert b.decision == "new"
    assert b.candidate is None
    assert b.similarity is None
    assert a.incident_id != b.incident_id


# -- vector stage --------------------------------------------------------------------------------


@pytest.mark.parametrize("same_batch", [False, True], ids=["across-batches", "same-batch"])
def test_similar_text_above_threshold_is_a_duplicate(make_services: Callable[..., Services], cosine_scores: None, same_batch: bool) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.95, 1)})
    if same_batch:
        first, second = run(svc, A, B)
    else:
        first, = run(svc, A)
        second, = run(svc, B)
    assert first.decision == "new"
    assert second.decision == "duplicate"
    assert second.incident_id == first.incident_id
    assert second.similarity == pytest.approx(0.95, abs=1e-3)
    assert incident(svc, first.incident_id).occurrence_count == 2
    assert len(incidents(svc)) == 1


@pytest.mark.parametrize("same_batch", [False, True], ids=["across-batches", "same-batch"])
def test_uncertain_match_is_new_with_a_candidate(make_services: Callable[..., Services], cosine_scores: None, same_batch: bool) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.85, 1)})
    if same_batch:
        first, second = run(svc, A, B)
    else:
        first, = run(svc, A)
        second, = run(svc, B)
    assert second.decision == "new"
    assert second.incident_id != first.incident_id
    assert second.candidate == first.incident_id
    assert second.similarity == pytest.approx(0.85, abs=1e-3)
    assert second.to_json()["candidate"] == first.incident_id
    assert incident(svc, first.incident_id).occurrence_count == 1
    with Session(svc.engine) as s:
        stored = s.exec(select(SignalRecord).where(SignalRecord.incident_id == second.incident_id)).scalars().one()  # type: ignore[call-overload]
        assert stored.candidate_id == first.incident_id


def test_dissimilar_text_is_new_without_candidate(make_services: Callable[..., Services], cosine_scores: None) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.5, 1)})
    first, = run(svc, A)
    second, = run(svc, B)
    assert second.decision == "new"
    assert second.candidate is None
    assert second.similarity == pytest.approx(0.5, abs=1e-3)
    assert "candidate" not in second.to_json()


def test_similar_to_a_resolved_incident_is_a_regression(make_services: Callable[..., Services], cosine_scores: None) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.95, 1)})
    first, = run(svc, {"text": A, "severity": "warning"})
    resolve_incident(svc.engine, first.incident_id)  # type: ignore[arg-type]
    second, = run(svc, {"text": B, "severity": "warning"})
    assert second.decision == "regression"
    assert second.incident_id != first.incident_id
    row = incident(svc, second.incident_id)
    assert row.regression_of == first.incident_id
    assert row.severity == "critical"


def test_open_incident_wins_a_tie_with_a_resolved_one(make_services: Callable[..., Services], cosine_scores: None) -> None:
    c = "checkout worker lost connection to redis sentinel"
    svc = pinned(make_services, {A: basis(0), c: basis(0), B: with_cosine(basis(0), 0.95, 1)})
    old, = run(svc, A)
    resolve_incident(svc.engine, old.incident_id)  # type: ignore[arg-type]
    live, = run(svc, c)  # same vector as A, different text: regression of A, and open
    assert live.decision == "regression"
    probe, = run(svc, B)
    assert (probe.decision, probe.incident_id) == ("duplicate", live.incident_id)


def test_reports_use_the_human_thresholds(make_services: Callable[..., Services], cosine_scores: None) -> None:
    r1 = "the login page is very slow for me today"
    r2 = "login page keeps spinning forever and never loads"
    svc = pinned(make_services, {r1: basis(0), r2: with_cosine(basis(0), 0.75, 1)})
    first, = run(svc, {"text": r1, "source": "slack"})
    second, = run(svc, {"text": r2, "source": "slack"})
    # 0.75 is below the machine candidate threshold (0.80) but above the human duplicate one (0.70).
    assert second.decision == "duplicate"
    assert second.incident_id == first.incident_id


def test_machine_lines_do_not_use_the_human_thresholds(make_services: Callable[..., Services], cosine_scores: None) -> None:
    svc = pinned(make_services, {A: basis(0), B: with_cosine(basis(0), 0.75, 1)})
    run(svc, A)
    second, = run(svc, B)
    assert second.decision == "new"
    assert second.candidate is None


# -- the real pair scoring (retrieval/dedup.py), end to end -------------------------------------

LOG = "payments worker alpha failed to commit offset on topic orders"


@pytest.mark.parametrize(("line", "decision", "has_candidate"), [
    ("payments worker beta failed to commit offset on topic orders", "duplicate", False),    # 9/10 equal
    ("payments worker beta failed to commit offset on queue orders", "new", True),           # 8/10
    ("payments worker beta failed to commit offset on queue refunds", "new", False),         # 7/10
    ("payments worker failed to commit offset", "new", False),                                # another template
], ids=["one-word", "two-words", "three-words", "shorter"])
def test_log_lines_of_one_template_fold_by_their_shared_positions(
        make_services: Callable[..., Services], line: str, decision: str, has_candidate: bool) -> None:
    svc = make_services(**PINNED)
    first, = run(svc, LOG)
    second, = run(svc, line)
    assert second.decision == decision
    assert (second.incident_id == first.incident_id) == (decision == "duplicate")
    assert (second.candidate == first.incident_id) if has_candidate else second.candidate is None
    assert second.similarity is not None  # the vector stage ran and reports the cosine


@pytest.mark.parametrize("repeat", [
    "the checkout page is down for everyone, please help.",
    "The checkout page is down for everyone please help",
    "the checkout page is down for everyone please help!",
    "the checkout page is down for everyone? please help",
], ids=["comma-period", "capital", "exclamation", "question"])
def test_a_report_repeated_with_other_punctuation_or_case_is_a_duplicate(
        make_services: Callable[..., Services], repeat: str) -> None:
    svc = make_services(**PINNED)
    first, = run(svc, {"text": "the checkout page is down for everyone please help", "source": "slack"})
    second, = run(svc, {"text": repeat, "source": "slack"})
    assert (second.decision, second.incident_id) == ("duplicate", first.incident_id)


# -- batches are streams -------------------------------------------------------------------------


def test_each_line_sees_the_lines_before_it_in_the_same_batch(services: Services) -> None:
    results = run(services, A, A, {"text": A, "status": "resolved"}, A, A)
    assert [r.decision for r in results] == ["new", "duplicate", "duplicate", "regression", "duplicate"]
    first, second, third, fourth, fifth = results
    assert first.incident_id == second.incident_id == third.incident_id
    assert fourth.incident_id == fifth.incident_id != first.incident_id
    assert incident(services, first.incident_id).status == "resolved"
    assert incident(services, first.incident_id).occurrence_count == 3
    reg = incident(services, fourth.incident_id)
    assert (reg.regression_of, reg.occurrence_count, reg.status) == (first.incident_id, 2, "open")
    assert signal_count(services) == 5


def test_results_keep_input_order_and_echo_ids(services: Services) -> None:
    results = run(services, A, B, A, ids=["x", 7, "z"])
    assert [r.id for r in results] == ["x", 7, "z"]
    assert results[2].incident_id == results[0].incident_id


def test_batch_is_stored_in_one_transaction(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    run(services, "already stored before the failing batch")
    from bot import intake as intake_module

    real = intake_module._signal_row
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(intake_module, "_signal_row", failing)
    with pytest.raises(RuntimeError):
        run(services, A, B)
    assert len(incidents(services)) == 1  # neither A nor B half-stored
    assert signal_count(services) == 1
    monkeypatch.setattr(intake_module, "_signal_row", real)
    retried = run(services, A, B)
    assert all(r.incident_id is not None for r in retried)
    assert signal_count(services) == 3


# -- retries and idempotency ---------------------------------------------------------------------


def test_retry_of_the_same_id_and_text_is_replayed_not_counted(services: Services) -> None:
    line = {"id": "evt-1", "text": A, "source": "api"}
    first, = run(services, line, ids=["evt-1"])
    again, = run(services, line, ids=["evt-1"])
    assert first.decision == "new" and not first.replayed
    assert again.replayed is True
    assert again.to_json()["replayed"] is True
    assert (again.decision, again.incident_id) == ("new", first.incident_id)
    assert incident(services, first.incident_id).occurrence_count == 1
    assert signal_count(services) == 1


def test_replay_of_a_duplicate_reports_the_original_decision(services: Services) -> None:
    run(services, A)
    line = {"id": 42, "text": A}
    dup, = run(services, line, ids=[42])
    again, = run(services, line, ids=[42])
    assert dup.decision == "duplicate"
    assert (again.decision, again.incident_id, again.replayed) == ("duplicate", dup.incident_id, True)
    assert again.id == 42
    assert incident(services, dup.incident_id).occurrence_count == 2


def test_same_id_with_different_text_is_not_a_replay(services: Services) -> None:
    first, = run(services, {"id": "e", "text": A}, ids=["e"])
    second, = run(services, {"id": "e", "text": B}, ids=["e"])
    assert not second.replayed
    assert signal_count(services) == 2


def test_same_id_in_another_tenant_is_not_a_replay(services: Services) -> None:
    run(services, {"id": "e", "text": A, "tenant": "acme"}, ids=["e"])
    other, = run(services, {"id": "e", "text": A, "tenant": "globex"}, ids=["e"])
    assert other.decision == "new" and not other.replayed


def test_same_id_in_two_tenants_in_one_batch_is_two_signals(services: Services) -> None:
    acme, globex = run(services, {"id": "e", "text": A, "tenant": "acme"}, {"id": "e", "text": A, "tenant": "globex"},
                       ids=["e", "e"])
    assert (acme.decision, globex.decision) == ("new", "new")
    assert acme.incident_id != globex.incident_id
    assert signal_count(services) == 2


def test_repeated_id_within_one_batch_is_rejected(services: Services) -> None:
    line = {"id": "dup", "text": A}
    first, second = run(services, line, line, ids=["dup", "dup"])
    assert first.decision == "new"
    assert second.decision == "rejected"
    assert second.error and "repeated" in second.error
    assert incident(services, first.incident_id).occurrence_count == 1
    assert signal_count(services) == 1


# -- text limits ---------------------------------------------------------------------------------


def test_huge_text_is_truncated_and_flagged(make_services: Callable[..., Services]) -> None:
    svc = make_services(max_text_chars=500)
    huge = "stack overflow in parser frame " * 1000
    r, small = run(svc, {"text": huge}, {"text": "short and sweet line"})
    assert r.truncated is True
    assert r.to_json()["truncated"] is True
    assert small.truncated is False and "truncated" not in small.to_json()
    assert len(incident(svc, r.incident_id).text) == 500
    with Session(svc.engine) as s:
        rec = s.exec(select(SignalRecord).where(SignalRecord.incident_id == r.incident_id)).scalars().one()  # type: ignore[call-overload]
        assert rec.truncated is True


# -- the vector index ----------------------------------------------------------------------------


def test_index_holds_one_point_per_distinct_text_and_tenant(services: Services) -> None:
    run(services, A, B, {"text": A, "tenant": "acme"})
    index = services.signal_index
    assert index.count() == 3
    assert index.count({"tenant": "acme"}) == 1
    payloads = [p for _, p in index.payloads({"tenant": "default"})]
    assert {p["kind"] for p in payloads} == {"log"}
    assert {p["incident_id"] for p in payloads} == {i.id for i in incidents(services) if i.tenant == "default"}


def test_rerunning_a_batch_does_not_grow_the_index(services: Services) -> None:
    batch = [A, B, "payments api returned an unexpected error"]
    run(services, *batch)
    count = services.signal_index.count()
    assert count == 3
    run(services, *batch)
    assert services.signal_index.count() == count
    # Re-embedded as regressions (all resolved), each line gets a point of its own next to its resolved
    # incident's, so both stay findable; rerunning that batch adds nothing either.
    originals = {row.id for row in incidents(services)}
    for row in incidents(services):
        resolve_incident(services.engine, row.id)  # type: ignore[arg-type]
    again = run(services, *batch)
    assert [r.decision for r in again] == ["regression"] * 3
    assert services.signal_index.count() == 2 * count
    assert {p["incident_id"] for _, p in services.signal_index.payloads()} == originals | {r.incident_id for r in again}
    run(services, *batch)
    assert services.signal_index.count() == 2 * count


# -- the write lock ------------------------------------------------------------------------------


def _write_lock_free(path: str) -> bool:
    """Whether another connection could start writing to this SQLite file right now."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_model_and_runbook_search_never_run_under_the_write_lock(tmp_path: Path) -> None:
    # On SQLite a batch's first write takes the one write lock that webhook acks also need; the slow
    # steps of a batch (embedding, runbook search) must all happen before it. (SQLite only: the
    # lock is SQLite's.)
    from bot.app import build_services
    from bot.intake import Intake
    from bot.settings import Settings
    from tests.fakes.embedder import HashEmbedder

    services = build_services(Settings(BALLAST_HOME=tmp_path), embedder=HashEmbedder())
    path = str(services.engine.url.database)
    probes: list[tuple[str, bool]] = []
    inner = services.intake.embedder

    class ProbedEmbedder:
        def embed(self, texts: list[str]) -> Any:
            probes.append(("embed", _write_lock_free(path)))
            return inner.embed(texts)

    class ProbedRunbooks:
        def best_runbook(self, text: str, title: str | None, labels: dict[str, str],
                         annotations: dict[str, str], key: str | None = None) -> str | None:
            probes.append(("runbook", _write_lock_free(path)))
            return "probe/Runbook"

        def best_runbooks(self, signals: list[tuple[str, str | None, dict[str, str], dict[str, str]]],
                          keys: list[str | None] | None = None) -> list[str | None]:
            return [self.best_runbook(*signal) for signal in signals]

    intake = Intake(services.engine, services.signal_index, ProbedEmbedder(), services.intake.policy,  # type: ignore[arg-type]
                    runbooks=ProbedRunbooks())
    lines = ["disk full on ledger volume", "certificate for api gateway expires soon",
             "replication lag on orders replica above threshold", "disk full on ledger volume"]
    results = intake.process([sig({"text": t, "source": "alertmanager"}, services) for t in lines], [1, 2, 3, 4])
    assert [r.decision for r in results] == ["new", "new", "new", "duplicate"]
    assert {r.runbook for r in results} == {"probe/Runbook"}
    assert {kind for kind, _ in probes} == {"embed", "runbook"}
    assert all(free for _, free in probes), probes
    services.close()


# -- log streams ---------------------------------------------------------------------------------

PROSE = ["The checkout service stopped answering for everyone in the EU region this morning",
         "Customers say the payment page keeps spinning and never finishes the order",
         "Our nightly export job did not write its report to the shared bucket again"]
LOGS = ["2026-11-28 01:02:03 ERROR [worker-3] connection reset by peer 10.0.0.7:5432",
        "2026-11-28 01:02:04 WARN [pool-1] slow query 1833ms table=orders id=0x7f3a"]


def stored_kind(svc: Services, results: list[IngestResult]) -> list[str]:
    with Session(svc.engine) as s:
        return [s.execute(select(SignalRecord.kind).where(SignalRecord.incident_id == r.incident_id)
                          .order_by(SignalRecord.id.desc()).limit(1)).scalar_one() for r in results]


@pytest.mark.parametrize(("window", "kind"), [(500, "report"), (2, "log")])
def test_a_source_is_judged_a_log_stream_on_its_most_recent_signals(
        services: Services, monkeypatch: pytest.MonkeyPatch, window: int, kind: str) -> None:
    import bot.candidates

    monkeypatch.setattr(bot.candidates, "STREAM_WINDOW", window)
    assert stored_kind(services, run(services, *PROSE)) == ["report"] * 3  # prose from a new source
    assert stored_kind(services, run(services, *LOGS)) == ["log"] * 2
    # Counted over all 5 stored signals the source is mostly prose; over its last 2, a log stream.
    prose = "The service entered the running state after the operator restarted it"
    assert stored_kind(services, run(services, prose)) == [kind]


def test_prose_from_a_chat_source_stays_a_report_whatever_the_source_sent(services: Services) -> None:
    run(services, *({"text": line, "source": "slack"} for line in LOGS * 3))
    [result] = run(services, {"text": PROSE[0], "source": "slack"})
    assert stored_kind(services, [result]) == ["report"]


def test_a_regression_keeps_its_resolved_incident_findable_in_the_index(services: Services) -> None:
    first, = run(services, A)
    resolve_incident(services.engine, first.incident_id)  # type: ignore[arg-type]
    again, = run(services, A)
    assert again.decision == "regression"
    vector = services.intake.embedder.embed([prepare(sig(A, services)).masked])[0]
    hits = services.signal_index.search(vector, 5, {"tenant": "default"})
    assert sorted(int(h.payload["incident_id"]) for h in hits) == sorted([first.incident_id, again.incident_id])
