"""Two writers ingesting the same new signal at once make one incident (unique key + re-read).

The barriers force the interleaving instead of hoping for it: both threads check for an open
incident, find none, and only then try to insert, so one insert must lose on the unique
constraint of (tenant, open_key) and fold its signal into the winner's incident.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot import incidents as repo
from bot.app import Services, dedup_policy
from bot.intake import Intake, IngestResult
from bot.models import Incident, SignalRecord, Tenant
from retrieval.index import Hit, VectorIndex
from retrieval.signal import Signal
from tests.fakes.embedder import HashEmbedder

TEXT = "billing cron failed to acquire lock on ledger table"
HANG_GUARD = 60  # seconds; only reached when the code no longer takes the raced path


class GatedIndex:
    """The real index, except that `search` returns only once every racer has searched.

    So every racer has checked the database and the index before any of them inserts.
    """

    def __init__(self, inner: VectorIndex, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier

    def search(self, vector: np.ndarray, limit: int, where: Any = None) -> list[Hit]:
        hits = self.inner.search(vector, limit, where)
        self.barrier.wait()
        return hits

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _in_threads(n: int, work: Callable[[int], None], barrier: threading.Barrier | None = None) -> None:
    """Run `work(k)` for k in 0..n-1 on n threads; re-raise the first error in the test thread.

    With `barrier`, an error aborts it, so the other threads stop waiting at once.
    """
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread)
            errors.append(exc)
            if barrier is not None:
                barrier.abort()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD * 2)
    assert not any(t.is_alive() for t in threads), "a racing thread never finished"
    if errors:
        raise errors[0]


def _race(svc: Services, n: int, signals: Callable[[int], Sequence[Signal]]) -> list[list[IngestResult]]:
    barrier = threading.Barrier(n, timeout=HANG_GUARD)
    index = GatedIndex(svc.signal_index, barrier)
    intakes = [Intake(svc.engine, index, svc.embedder, dedup_policy(svc.settings)) for _ in range(n)]  # type: ignore[arg-type]
    results: list[list[IngestResult] | None] = [None] * n

    def worker(k: int) -> None:
        batch = signals(k)
        results[k] = intakes[k].process(batch, [f"t{k}-{i}" for i in range(len(batch))])

    _in_threads(n, worker, barrier)
    return [r for r in results if r is not None]


@pytest.fixture
def conflicts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts inserts that lost on the unique key (the path under test)."""
    lost: list[int] = []
    real = repo.insert_incident

    def spy(session: Session, incident: Incident) -> Incident | None:
        stored = real(session, incident)
        if stored is None:
            lost.append(1)
        return stored

    monkeypatch.setattr(repo, "insert_incident", spy)
    return lost


def _prime_tenant(svc: Services, tenant: str) -> None:
    # The tenant row exists before the race, as in steady state; the race is about incidents.
    svc.intake.process([Signal(text="unrelated warm-up line for the tenant", tenant=tenant)], [0])


def _counts(svc: Services, tenant: str) -> tuple[list[Incident], int]:
    with Session(svc.engine) as s:
        rows = list(s.exec(select(Incident).where(Incident.tenant == tenant, Incident.text == TEXT)).scalars().all())  # type: ignore[call-overload]
        signals = s.execute(select(func.count()).select_from(SignalRecord).where(
            SignalRecord.tenant == tenant, SignalRecord.raw.contains("ledger table"))).scalar_one()  # type: ignore[attr-defined]
    return rows, int(signals)


def test_two_writers_same_new_signal_make_one_incident(services: Services, conflicts: list[int]) -> None:
    _prime_tenant(services, "default")
    results = _race(services, 2, lambda k: [Signal(text=TEXT)])
    assert conflicts, "the race was not exercised: neither insert lost on the unique key"
    rows, stored = _counts(services, "default")
    assert len(rows) == 1
    assert rows[0].occurrence_count == 2
    assert rows[0].status == "open"
    assert stored == 2
    ids = {r[0].incident_id for r in results}
    assert ids == {rows[0].id}
    # Both report the incident; the one that lost the insert folded into it.
    assert sorted(r[0].decision for r in results) in (["new", "new"], ["duplicate", "new"])


@pytest.mark.parametrize("tenant_exists", [True, False], ids=["known-tenant", "new-tenant"])
def test_many_writers_repeating_one_signal_lose_no_increment(services: Services, tenant_exists: bool) -> None:
    # Not gated: the threads start together and interleave as they will. With a new tenant they
    # also race to create the tenant row.
    tenant = "default" if tenant_exists else "fresh"
    if tenant_exists:
        _prime_tenant(services, tenant)
    n, per_thread = 4, 5
    barrier = threading.Barrier(n, timeout=HANG_GUARD)

    def worker(k: int) -> None:
        intake = Intake(services.engine, services.signal_index, HashEmbedder(), dedup_policy(services.settings))
        barrier.wait()
        for i in range(per_thread):
            intake.process([Signal(text=TEXT, tenant=tenant)], [f"{k}-{i}"])

    _in_threads(n, worker)
    rows, stored = _counts(services, tenant)
    assert len(rows) == 1
    assert rows[0].occurrence_count == n * per_thread
    assert stored == n * per_thread


def test_a_retry_racing_its_original_is_stored_once(services: Services) -> None:
    # A webhook sender retries while the first delivery is still being processed: same id, same
    # text. One delivery stores the signal; the other must not count it again, and must not fail.
    _prime_tenant(services, "default")
    results = _race(services, 2, lambda k: [Signal(text=TEXT, external_id="evt-1", source="api")])
    rows, stored = _counts(services, "default")
    assert stored == 1
    assert len(rows) == 1
    assert rows[0].occurrence_count == 1
    assert {r[0].incident_id for r in results} == {rows[0].id}
    assert sorted(bool(r[0].replayed) for r in results) == [False, True]


def test_a_new_tenant_is_committed_before_it_is_known(services: Services) -> None:
    # Writers of one process share the set of known tenants. A tenant may enter it only once its
    # row is committed: otherwise a writer that skips the insert refers to a row another writer's
    # open transaction may still roll back.
    known: set[str] = set()
    repo.ensure_tenants(services.engine, ["acme", "globex"], known)
    assert known == {"acme", "globex"}
    with Session(services.engine) as other:
        assert {t for t in ("acme", "globex") if other.get(Tenant, t) is not None} == {"acme", "globex"}
    repo.ensure_tenants(services.engine, ["acme"], known)  # again: no error, nothing new
    assert known == {"acme", "globex"}


def test_threads_sharing_one_intake_on_a_new_tenant(services: Services) -> None:
    # Worker threads of one replica share its Intake (and so its tenant cache) while a new tenant's
    # first batches race; distinct alerts, so every signal is stored once with no lost row.
    n, per_thread = 3, 6
    barrier = threading.Barrier(n, timeout=HANG_GUARD)

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            services.intake.process(
                [Signal(text=f"disk {k}-{i} full on node-{k}", tenant="shared", source="api",
                        external_id=f"{k}-{i}", labels={"alertname": f"Disk{k}{i}"})], [i])

    _in_threads(n, worker)
    with Session(services.engine) as s:
        stored = s.execute(select(func.count()).select_from(SignalRecord).where(SignalRecord.tenant == "shared")).scalar_one()
    assert stored == n * per_thread
