"""`ballast incidents split ID` and the labelled pairs `incidents merge` and `split` leave, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from bot import labels
from bot.app import build_services
from bot.models import Incident
from bot.settings import Settings
from retrieval.signal import signal_from_mapping
from tests.fakes.embedder import HashEmbedder
from tests.scenarios.test_cli_ingest import _check_incident, ballast, json_lines, one_line_error


@pytest.fixture
def seeded(home: Path) -> dict[str, int]:
    """a: two reports of one failure (the second 20 minutes later); b: one other incident."""
    svc = build_services(Settings(BALLAST_HOME=home), embedder=HashEmbedder())
    try:
        lines = [{"text": "orders api returns gateway timeout", "service": "orders", "time": "2026-05-01T08:00:00Z"},
                 {"text": "orders api returns gateway timeout", "service": "orders", "time": "2026-05-01T08:20:00Z"},
                 {"text": "inventory sync job stuck on warehouse feed"}]
        signals = [signal_from_mapping(x, max_text_chars=16_000) for x in lines]
        a, _, b = svc.intake.process(signals, [1, 2, 3])
    finally:
        svc.close()
    return {"a": a.incident_id, "b": b.incident_id}  # type: ignore[dict-item]


def stored(home: Path) -> tuple[dict[int, Incident], list[labels.PairLabel]]:
    svc = build_services(Settings(BALLAST_HOME=home), embedder=HashEmbedder())
    try:
        with Session(svc.engine, expire_on_commit=False) as s:
            rows = {i.id: i for i in s.query(Incident).all()}  # type: ignore[misc]
            return rows, labels.labels_for(s, "default")  # type: ignore[return-value]
    finally:
        svc.close()


def test_split_json(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "split", str(seeded["a"]), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    [row] = json_lines(proc)
    _check_incident(row)
    assert row["split_from"] == seeded["a"] and row["id"] not in seeded.values()
    assert (row["occurrence_count"], row["status"], row["service"]) == (1, "open", "orders")
    assert row["first_seen"].startswith("2026-05-01T08:20:00")
    incidents, taught = stored(home)
    assert incidents[seeded["a"]].occurrence_count == 1
    [label] = taught
    assert ({label.first_id, label.second_id}, label.same, label.via) == ({seeded["a"], row["id"]}, False, "cli-split")


def test_split_refusals_exit_1_with_one_line(home: Path, seeded: dict[str, int]) -> None:
    for target, needle in ((seeded["b"], "only one report"), (999, "999")):
        proc = ballast(home, "incidents", "split", str(target), "--json")
        assert proc.returncode == 1 and proc.stdout == b""
        assert needle in one_line_error(proc)
    assert stored(home)[1] == []


def test_cli_merge_is_a_labelled_pair(home: Path, seeded: dict[str, int]) -> None:
    proc = ballast(home, "incidents", "merge", str(seeded["b"]), str(seeded["a"]), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    [label] = stored(home)[1]
    assert ({label.first_id, label.second_id}, label.same, label.via) == (set(seeded.values()), True, "cli-merge")
