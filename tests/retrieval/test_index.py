"""One behaviour suite for both vector stores behind `VectorIndex`.

EdgeIndex (Qdrant Edge, in-process, the default) runs in a temp dir; ServerIndex runs on
qdrant-client's local mode, which stands in for a Qdrant server (marked `server`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.errors import IndexBusy
from retrieval.index import EdgeIndex, IndexPoint, ServerIndex, VectorIndex, open_index, point_id

DIM = 16


def vec(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def pid(name: str) -> str:
    return point_id("test", name)


def pt(name: str, v: np.ndarray, **payload: object) -> IndexPoint:
    return IndexPoint(pid(name), v, dict(payload))


Opener = Callable[..., VectorIndex]
LOCAL_MODE_WARNING = "ignore:Payload indexes have no effect in the local Qdrant"


@pytest.fixture(params=["edge", pytest.param("server", marks=[pytest.mark.server,
                                                                 pytest.mark.filterwarnings(LOCAL_MODE_WARNING)])])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (and reopens) one store on one folder; everything opened is closed afterwards."""
    opened: list[VectorIndex] = []

    def open_(memory: bool = False) -> VectorIndex:
        """`memory=True`: no persistence needed, so the server stand-in may skip its slow disk mode."""
        if request.param == "edge":
            index: VectorIndex = EdgeIndex(tmp_path / "edge", DIM)
        elif memory:
            index = ServerIndex("signals", DIM)  # qdrant-client ":memory:"
        else:
            index = ServerIndex("signals", DIM, path=tmp_path / "local")
        opened.append(index)
        return index

    yield open_
    for index in opened:
        try:
            index.close()
        except Exception:  # noqa: BLE001  (already closed by the test)
            pass


@pytest.fixture
def index(opener: Opener) -> VectorIndex:
    ix = opener()
    ix.upsert([
        pt("a1", vec(1, 0), tenant="acme", kind="log", incident_id=1),
        pt("a2", vec(1, 0.2), tenant="acme", kind="alert", incident_id=2),
        pt("a3", vec(0, 1), tenant="acme", kind="report", incident_id=3),
        pt("g1", vec(1, 0.01), tenant="globex", kind="log", incident_id=4),
    ])
    ix.flush()
    return ix


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.id for h in hits]


def test_search_returns_nearest_first_with_cosine_scores_and_payloads(index: VectorIndex) -> None:
    hits = index.search(vec(1, 0), 10)
    assert ids(hits)[:2] == [pid("a1"), pid("g1")]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[-1].id == pid("a3") and hits[-1].score == pytest.approx(0.0, abs=1e-4)
    assert hits[0].payload == {"tenant": "acme", "kind": "log", "incident_id": 1}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_limit(index: VectorIndex) -> None:
    assert len(index.search(vec(1, 0), 2)) == 2


def test_tenant_filter(index: VectorIndex) -> None:
    hits = index.search(vec(1, 0), 10, {"tenant": "globex"})
    assert ids(hits) == [pid("g1")]
    assert set(ids(index.search(vec(1, 0), 10, {"tenant": "acme"}))) == {pid("a1"), pid("a2"), pid("a3")}
    assert index.search(vec(1, 0), 10, {"tenant": "initech"}) == []


def test_match_any_and_combined_filters(index: VectorIndex) -> None:
    hits = index.search(vec(1, 0), 10, {"tenant": "acme", "kind": ["log", "report"]})
    assert set(ids(hits)) == {pid("a1"), pid("a3")}
    assert index.count({"kind": ["alert", "report"]}) == 2
    assert index.count({"tenant": ["acme", "globex"], "kind": "log"}) == 2


def test_filter_on_an_integer_payload(index: VectorIndex) -> None:
    assert ids(index.search(vec(1, 0), 10, {"incident_id": 2})) == [pid("a2")]
    assert index.count({"incident_id": 4}) == 1


def test_count(index: VectorIndex) -> None:
    assert index.count() == 4
    assert index.count({"tenant": "acme"}) == 3
    assert index.count({"tenant": "nobody"}) == 0


def test_payloads_lists_every_point(index: VectorIndex) -> None:
    got = dict(index.payloads())
    assert set(got) == {pid(n) for n in ("a1", "a2", "a3", "g1")}
    assert got[pid("a3")] == {"tenant": "acme", "kind": "report", "incident_id": 3}
    assert [i for i, _ in index.payloads({"tenant": "globex"})] == [pid("g1")]


def test_payloads_pages_through_more_than_one_scroll(opener: Opener) -> None:
    ix = opener(memory=True)
    rng = np.random.default_rng(7)
    n = 1100  # above the adapter's scroll page of 1000
    ix.upsert([IndexPoint(pid(f"p{i}"), rng.normal(size=DIM).astype(np.float32), {"tenant": "t", "n": i})
               for i in range(n)])
    got = ix.payloads()
    assert len(got) == n
    assert sorted(p["n"] for _, p in got) == list(range(n))


def test_set_payload_updates_only_the_given_keys(index: VectorIndex) -> None:
    index.set_payload([pid("a1"), pid("a2")], {"incident_id": 9, "note": "merged"})
    got = dict(index.payloads())
    assert got[pid("a1")] == {"tenant": "acme", "kind": "log", "incident_id": 9, "note": "merged"}
    assert got[pid("a2")]["incident_id"] == 9
    assert got[pid("a3")]["incident_id"] == 3
    assert index.count({"incident_id": 9}) == 2
    index.set_payload([], {"incident_id": 0})  # nothing to do, no error
    assert index.count({"incident_id": 0}) == 0


def test_delete_by_id_and_by_filter(index: VectorIndex) -> None:
    index.delete([pid("a1")])
    assert index.count() == 3
    assert pid("a1") not in ids(index.search(vec(1, 0), 10))
    index.delete([])  # nothing to do, no error
    index.delete_where({"tenant": "acme"})
    assert index.count() == 1
    assert ids(index.search(vec(1, 0), 10)) == [pid("g1")]


def test_upsert_by_point_id_is_idempotent(index: VectorIndex) -> None:
    index.upsert([pt("a1", vec(1, 0), tenant="acme", kind="log", incident_id=1)])
    assert index.count() == 4
    # Same id, new vector and payload: replaced, not added.
    index.upsert([pt("a1", vec(0, 0, 1), tenant="acme", kind="log", incident_id=7)])
    assert index.count() == 4
    hits = index.search(vec(0, 0, 1), 1)
    assert hits[0].id == pid("a1") and hits[0].payload["incident_id"] == 7
    index.upsert([])  # nothing to do, no error
    assert index.count() == 4


def test_ids_come_back_as_the_uuid_strings_given(index: VectorIndex) -> None:
    for hit in index.search(vec(1, 0), 10):
        assert str(uuid.UUID(hit.id)) == hit.id


def test_reopen_keeps_the_points(opener: Opener) -> None:
    ix = opener()
    ix.upsert([pt("a1", vec(1, 0), tenant="acme"), pt("a2", vec(0, 1), tenant="acme")])
    ix.flush()
    ix.close()
    again = opener()
    assert again.count() == 2
    assert again.search(vec(0, 1), 1)[0].id == pid("a2")
    assert dict(again.payloads())[pid("a1")] == {"tenant": "acme"}


def test_a_second_open_of_the_same_edge_folder_is_refused_clearly(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path / "edge", DIM)
    try:
        first.upsert([pt("a1", vec(1, 0), tenant="acme")])
        with pytest.raises(IndexBusy) as info:
            EdgeIndex(tmp_path / "edge", DIM)
        message = str(info.value)
        assert str(tmp_path / "edge") in message
        assert "in use by another Ballast process" in message
        assert "BALLAST_QDRANT_URL" in message  # says what to do about it
        # The holder is unaffected.
        assert first.count() == 1
    finally:
        first.close()
    # Once released, it opens again with the data.
    reopened = EdgeIndex(tmp_path / "edge", DIM)
    try:
        assert reopened.count() == 1
    finally:
        reopened.close()


def test_open_index_defaults_to_edge_under_the_data_dir(tmp_path: Path) -> None:
    ix = open_index("signals", DIM, home=tmp_path)
    try:
        assert isinstance(ix, EdgeIndex)
        assert (tmp_path / "qdrant" / "signals").is_dir()
    finally:
        ix.close()


def test_point_id_is_a_stable_uuid5() -> None:
    a = point_id("default", "log", "abc", "masked text")
    assert a == point_id("default", "log", "abc", "masked text")
    assert uuid.UUID(a).version == 5
    assert a != point_id("other", "log", "abc", "masked text")
    # Parts are separated, so shifting a boundary changes the id.
    assert point_id("ab", "c") != point_id("a", "bc")


def test_missing_lists_only_ids_without_a_point(index: VectorIndex) -> None:
    wanted = [pid("a1"), pid("nope"), pid("g1"), pid("also-nope")]
    assert index.missing(wanted) == [pid("nope"), pid("also-nope")]
    assert index.missing([]) == []


def test_stats_count_points_and_optimize_keeps_every_point_searchable(opener: Opener) -> None:
    ix = opener(memory=True)
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((300, DIM)).astype(np.float32)
    ix.upsert([pt(f"p{i}", rows[i] / np.linalg.norm(rows[i]), tenant="acme", incident_id=i) for i in range(300)])
    ix.flush()
    assert ix.stats().points == 300
    ix.optimize()
    after = ix.stats()
    assert after.points == 300 and after.indexed <= after.points
    for i in (0, 150, 299):
        hits = ix.search(rows[i] / np.linalg.norm(rows[i]), 1, {"tenant": "acme"})
        assert ids(hits) == [pid(f"p{i}")]
