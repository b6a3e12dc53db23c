"""Runbook indexing and search on a deterministic embedder: incremental reindex, bad files,
explicit names and runbook URLs winning, fusion, outcome feedback and the intake matcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.index import VectorIndex, open_index
from retrieval.runbook_search import Ranked, RunbookLibrary, feedback_factor, fuse
from retrieval.runbook_store import IndexReport, index_runbooks, record_outcome
from tests.fakes.embedder import HashEmbedder

RUNBOOKS = {
    "db/PostgresConnectionsExhausted.md": """---
title: Database connections exhausted
alerts: [PostgresTooManyConnections]
interventions: [restart_deployment]
---
# PostgresConnectionsExhausted

## Meaning

Clients cannot open new connections: the server reached max_connections and the pool waits.

## Mitigation

Lower the pool size per pod and restart the leaking service.
""",
    "db/PostgresReplicationLag.md": """# PostgresReplicationLag

## Meaning

The replica replays WAL far behind the primary; reads from it return stale rows.
""",
    "k8s/KubeNodeNotReady.md": """# KubeNodeNotReady

## Meaning

A node stopped reporting to the control plane: kubelet down, network partition or disk pressure.
""",
    "net/CertificateExpiry.md": """---
title: TLS certificate expiring
alerts: [CertificateExpiringSoon]
---
## Meaning

The serving certificate expires within days; clients will fail the TLS handshake.
""",
}


def write_runbooks(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[VectorIndex]:
    idx = open_index("runbooks", 384, home=tmp_path / "home")
    yield idx
    idx.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "runbooks"
    write_runbooks(root, RUNBOOKS)
    return root


def build(index: VectorIndex, root: Path, lines: list[str] | None = None) -> tuple[IndexReport, RunbookLibrary]:
    embedder = HashEmbedder()
    report = index_runbooks(index, embedder, root, (lines if lines is not None else []).append)
    return report, RunbookLibrary(index, embedder)


def test_index_then_reindex_is_incremental(index: VectorIndex, corpus: Path) -> None:
    first, library = build(index, corpus)
    assert (first.indexed, first.added, first.unchanged) == (4, 4, 0)
    assert first.chunks == len(library.chunks) == 5
    again, _ = build(index, corpus)
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 4, 0)
    (corpus / "db/PostgresReplicationLag.md").write_text("# PostgresReplicationLag\n\n## Meaning\n\nLag.\n\n## Fix\n\nWait.\n")
    (corpus / "k8s/KubeNodeNotReady.md").unlink()
    changed, library = build(index, corpus)
    assert (changed.updated, changed.removed, changed.unchanged) == (1, 1, 2)
    assert "k8s/KubeNodeNotReady" not in library.titles
    assert [c.section for c in library.chunks if c.runbook == "db/PostgresReplicationLag"] == [
        "PostgresReplicationLag > Meaning", "PostgresReplicationLag > Fix"]


def test_bad_files_are_reported_and_skipped(index: VectorIndex, corpus: Path) -> None:
    (corpus / "empty.md").write_text("")
    (corpus / "blob.md").write_bytes(b"\x00\x01\x02")
    (corpus / "broken.md").write_text("---\ntitle: [oops\n---\n# Broken\n\nStill useful text.\n")
    lines: list[str] = []
    report, library = build(index, corpus, lines)
    assert report.skipped == 2 and report.indexed == 5
    assert any(line.startswith("skipped empty.md: empty") for line in lines)
    assert any(line.startswith("skipped blob.md: binary") for line in lines)
    assert any(line.startswith("warning broken.md: front matter") for line in lines)
    assert "broken" in library.titles


def test_an_alert_name_in_the_text_wins_outright(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    text = "[FIRING:1] PostgresReplicationLag\nClients cannot open new connections to the server"
    matches = library.search(text, 3)
    assert matches[0].runbook == "db/PostgresReplicationLag" and matches[0].score == 1.0
    assert library.search("CertificateExpiringSoon on api", 1)[0].runbook == "net/CertificateExpiry"
    assert library.search("alert kubenodenotready on node-3", 1)[0].explicit  # CamelCase names in any case
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_runbook_url_and_alertname_label_win(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    url = "https://wiki.example.com/runbooks/k8s/kubenodenotready.md"
    assert library.best_runbook("something broke", None, {}, {"runbook_url": url}) == "k8s/KubeNodeNotReady"
    assert library.best_runbook("x", None, {"alertname": "PostgresTooManyConnections"}, {}) == \
        "db/PostgresConnectionsExhausted"
    assert library.runbook_for_url("https://example.com/nothing/here") is None


def test_description_text_finds_its_runbook(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    assert library.search("replica is behind the primary, stale reads", 1)[0].runbook == "db/PostgresReplicationLag"
    assert library.search("tls handshake failures, certificate expires soon", 1)[0].runbook == "net/CertificateExpiry"
    batch = library.search_many(["node stopped reporting, kubelet down", "max_connections reached"], 2)
    assert [b[0].runbook for b in batch] == ["k8s/KubeNodeNotReady", "db/PostgresConnectionsExhausted"]


def test_unrelated_text_matches_nothing(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    assert library.best_runbook("zzqx vvbn", None, {}, {}) is None


def test_an_empty_index_answers_with_no_matches(index: VectorIndex) -> None:
    library = RunbookLibrary(index, HashEmbedder())
    assert library.search_many(["disk full", "x"], 3) == [[], []]
    assert library.best_runbook("disk full", None, {}, {}) is None and library.best_chunks("disk full") == []


def test_fusion_rewards_agreement() -> None:
    fused = fuse(Ranked({"a": 9.0, "b": 3.0, "c": 1.0}, {"a": 0.2, "b": 0.9, "c": 0.1}))
    assert max(fused, key=fused.__getitem__) in ("a", "b")
    assert fused["c"] == 0.0
    both = fuse(Ranked({"a": 5.0, "b": 1.0}, {"a": 0.8, "b": 0.3}))
    assert both["a"] == 1.0 and both["b"] == 0.0


def test_outcomes_move_the_rank(index: VectorIndex, corpus: Path) -> None:
    assert feedback_factor(0, 0) == 1.0 and feedback_factor(5, 0) > 1.0 > feedback_factor(0, 5)
    _, library = build(index, corpus)
    query = "postgres database server"
    before = {m.runbook: m.score for m in library.search(query, 2)}
    winner, loser = sorted(before, key=lambda rb: -before[rb])
    for _ in range(30):
        record_outcome(index, winner, succeeded=False)
        record_outcome(index, loser, succeeded=True)
    library.reload()
    assert library.feedback[loser] == (30, 0) and library.feedback[winner] == (0, 30)
    assert len(library.chunks) == 5  # outcome points never show up as chunks
    after = {m.runbook: m.score for m in library.search(query, 2)}
    assert after[loser] > before[loser] and after[winner] < before[winner]


@pytest.mark.server
def test_the_same_ranking_on_a_qdrant_server(corpus: Path, index: VectorIndex) -> None:
    """qdrant-client's in-memory mode stands in for a server: same chunks, same matches."""
    from retrieval.index import ServerIndex

    server = ServerIndex("runbooks", 384)
    try:
        _, on_server = build(server, corpus)
        _, embedded = build(index, corpus)
        queries = ["replica is behind the primary", "tls handshake failures", "PostgresReplicationLag"]
        assert [[m.runbook for m in r] for r in on_server.search_many(queries, 3)] == \
            [[m.runbook for m in r] for r in embedded.search_many(queries, 3)]
        again, _ = build(server, corpus)
        assert again.unchanged == 4
    finally:
        server.close()


def test_best_runbooks_agrees_with_one_at_a_time(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    url = "https://wiki.example.com/runbooks/k8s/kubenodenotready.md"
    signals = [("something broke", None, {}, {"runbook_url": url}),
               ("replica is behind the primary, stale reads", None, {}, {}),
               ("zzqx vvbn", None, {}, {}),
               ("x", None, {"alertname": "PostgresTooManyConnections"}, {}),
               ("tls handshake failures, certificate expires soon", "cert alert", {}, {})]
    one_by_one = [library.best_runbook(*s) for s in signals]
    assert library.best_runbooks(signals) == one_by_one
    assert one_by_one[0] == "k8s/KubeNodeNotReady" and one_by_one[2] is None
    assert library.best_runbooks([]) == []


def test_signals_with_one_key_are_ranked_once_and_remembered(index: VectorIndex, corpus: Path) -> None:
    _, library = build(index, corpus)
    ranked: list[str] = []
    rank = library.rank
    library.rank = lambda texts: ranked.extend(texts) or rank(texts)  # type: ignore[method-assign]
    key = "replica is behind the primary by <num> seconds"
    hosts = [(f"replica db-{i} is behind the primary by {i * 7} seconds", None, {}, {}) for i in range(5)]
    first = library.best_runbooks(hosts, [key] * 5)
    assert len(set(first)) == 1 and first[0] is not None
    assert ranked == [hosts[0][0]]  # the first signal's own text, once for the whole batch
    assert library.best_runbook("replica db-9 is behind the primary by 3 seconds", None, {}, {}, key) == first[0]
    assert len(ranked) == 1  # remembered across calls
    # Names still win per signal, and signals without a key are ranked each on its own.
    named = ("x", None, {"alertname": "PostgresTooManyConnections"}, {})
    assert library.best_runbooks([named], [key]) == [library.best_runbook(*named)] != first
    library.best_runbooks([hosts[1], hosts[2]])
    assert len(ranked) == 3
    # An outcome moves ranks: what was remembered is ranked again.
    library.set_feedback(first[0], (0, 5))
    library.best_runbooks(hosts[:1], [key])
    assert len(ranked) == 4
