"""A crash between a batch's commit and its index write: the next start writes the missing vectors.

The crash is simulated by an index whose `upsert` dies after the database commit (as a killed
process would); the data dir is then reopened like a restarted process. Runs on SQLite and
PostgreSQL. The `ballast index` commands are run as subprocesses on the same kind of data dir.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.app import Services
from bot.index_repair import repair_index
from bot.intake import prepare
from bot.models import SignalRecord
from retrieval.index import EdgeIndex
from retrieval.signal import signal_from_mapping
from tests.conftest import ballast_exe, cli_env
from tests.fakes.embedder import HashEmbedder

LINES = ["payment gateway timeout after 3000 ms calling bank api",
         "disk usage on db-7 reached 91 percent of volume data",
         "user 5512 login failed: account locked"]


class ProcessKilled(BaseException):
    """Stands for the process dying: nothing after it in `process` runs."""


def signals(texts: list[str]) -> list[Any]:
    return [signal_from_mapping({"text": t, "source": "app"}, max_text_chars=16_000) for t in texts]


def crash_after_commit(svc: Services, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ingest LINES with the index write failing; returns the point ids the stored signals name."""
    intake = svc.intake

    def killed(points: Any) -> None:
        raise ProcessKilled

    monkeypatch.setattr(svc.signal_index, "upsert", killed)
    with pytest.raises(ProcessKilled):
        intake.process(signals(LINES), [1, 2, 3])
    monkeypatch.undo()
    with Session(svc.engine) as session:
        rows = session.execute(select(SignalRecord.point_id, SignalRecord.incident_id)).all()
    assert len(rows) == 3 and all(p is not None for p, _ in rows)  # the batch was committed
    return [p for p, _ in rows]


def test_restart_restores_vectors_a_crash_kept_out_of_the_index(make_services: Callable[..., Services],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make_services(HashEmbedder())
    points = crash_after_commit(svc, monkeypatch)
    assert sorted(svc.signal_index.missing(points)) == sorted(points)
    svc.close()

    restarted = make_services(HashEmbedder())
    intake = restarted.intake  # a start repairs before the first batch
    assert restarted.signal_index.missing(points) == []
    # The restored points carry the stored incidents, so a repeat with new wording finds them.
    embedder = HashEmbedder()
    with Session(restarted.engine) as session:
        stored = {r.point_id: r.incident_id for r in session.exec(select(SignalRecord)).scalars()}  # type: ignore[call-overload]
    for text in LINES:
        item = prepare(signals([text])[0])
        hits = restarted.signal_index.search(embedder.embed([item.masked])[0], 1, {"tenant": "default"})
        assert hits and hits[0].score > 0.999
        assert hits[0].payload["incident_id"] == stored[hits[0].id]
        assert hits[0].payload["masked"] == item.masked
    results = intake.process(signals([LINES[0].replace("3000", "4100")]), [9])
    assert results[0].decision == "duplicate" and results[0].incident_id == stored[points[0]]
    # Nothing is missing now: a second repair writes nothing.
    assert repair_index(restarted.engine, restarted.signal_index, embedder).restored == 0


def test_repair_checks_only_the_newest_rows_unless_asked_for_all(make_services: Callable[..., Services],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make_services(HashEmbedder())
    points = crash_after_commit(svc, monkeypatch)
    svc.intake.process(signals(["queue orders backlog is 900 messages on broker b-2"]), [4])
    index, engine, embedder = svc.signal_index, svc.engine, HashEmbedder()
    newest = repair_index(engine, index, embedder, recent=1)
    assert (newest.checked, newest.restored) == (1, 0)
    assert sorted(index.missing(points)) == sorted(points)
    full = repair_index(engine, index, embedder, recent=None)
    assert (full.checked, full.restored) == (4, 3)
    assert index.missing(points) == []


def run_cli(home: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = cli_env(home, **({"BALLAST_DATABASE_URL": database_url} if database_url else {}))
    return subprocess.run([ballast_exe(), *args], env=env, capture_output=True, text=True, timeout=120)


def test_index_commands_refuse_while_another_process_holds_the_data_dir(home: Path) -> None:
    held = EdgeIndex(home / "qdrant" / "signals", 384)
    try:
        for command in (["index", "optimize"], ["index", "repair"], ["index", "status"]):
            done = run_cli(home, *command)
            assert done.returncode == 1, done.stderr
            assert "in use by another Ballast process" in done.stderr
            assert "Traceback" not in done.stderr
    finally:
        held.close()


def test_index_optimize_builds_the_graph_and_keeps_every_point(make_services: Callable[..., Services],
                                                              home: Path, database_url: str) -> None:
    svc = make_services(HashEmbedder())
    svc.intake.process(signals([f"worker {w} of pool {p} stalled on lock table_{w}x{p}"
                                for w in "abcdefgh" for p in "qrstuvwxyz"]), list(range(80)))
    before = svc.signal_index.stats().points
    svc.close()
    done = run_cli(home, "index", "optimize", "--json", database_url=database_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["restored"] == 0 and report["points"] == before > 0
    assert 0 <= report["indexed"] <= report["points"]
    status = run_cli(home, "index", "status", "--json", database_url=database_url)
    assert json.loads(status.stdout)["points"] == before


def test_a_large_ingest_says_how_to_build_the_search_graph(make_services: Callable[..., Services],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from bot import ingest_file

    svc = make_services(HashEmbedder())
    data = "".join(json.dumps({"text": t}) + "\n" for t in LINES).encode()
    monkeypatch.setattr(ingest_file, "UNINDEXED_HINT", 10_000)
    ingest_file.ingest_stream(svc, io.BytesIO(data), as_json=True)
    assert "ballast index optimize" not in capsys.readouterr().err  # 3 points: no hint
    monkeypatch.setattr(ingest_file, "UNINDEXED_HINT", 3)
    ingest_file.ingest_stream(svc, io.BytesIO(data), as_json=True)
    err = capsys.readouterr().err
    assert "3 of 3 vectors are searched by a full scan" in err and "ballast index optimize" in err
