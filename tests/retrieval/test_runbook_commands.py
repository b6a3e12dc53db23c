"""`ballast runbooks index|search|outcome` and `ballast ask` through Typer, on the fake embedder:
CONTRACT.md's JSON shapes, stderr reports, bad query lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli
from bot.app import build_services
from bot.settings import Settings
from tests.conftest import ROOT
from tests.fakes.embedder import HashEmbedder


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, home: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "services", lambda: build_services(Settings(BALLAST_HOME=home), HashEmbedder()))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, list[dict[str, object]], str]:
        result = runner.invoke(cli.app, list(args))
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        return result.exit_code, lines, result.stderr

    return invoke


def test_index_search_and_ask_print_the_contract_shapes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, lines, _ = run("runbooks", "index", str(ROOT / "runbooks"), "--json")
    assert code == 0 and set(lines[0]) >= {"indexed", "chunks"} and lines[0]["indexed"] >= 15
    code, lines, _ = run("runbooks", "search", "KubePodCrashLooping in checkout", "--top", "2", "--json")
    assert code == 0 and set(lines[0]) == {"query", "matches"}
    top = lines[0]["matches"][0]  # type: ignore[index]
    assert top == {"runbook": "kubernetes/KubePodCrashLooping", "score": 1.0, "title": top["title"]}
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "certificate expires soon"}\nnot json\n\n{"text": "dns lookups fail"}\n')
    code, lines, err = run("runbooks", "search", "--queries", str(queries), "--top", "3", "--json")
    assert code == 0 and [line["id"] for line in lines] == ["a", 4]
    assert all(len(line["matches"]) == 3 for line in lines)  # type: ignore[arg-type]
    assert "q.jsonl:2: expected" in err
    code, lines, _ = run("ask", "how do I renew an expiring TLS certificate?", "--json")
    assert code == 0 and lines[0]["model"] is None and lines[0]["mode"] == "extractive"
    assert all(set(c) == {"runbook", "section"} for c in lines[0]["citations"])  # type: ignore[union-attr]


def test_reindex_reports_skips_on_stderr(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "good.md").write_text("# Good\n\n## Meaning\n\nFine.\n")
    (tmp_path / "bad.md").write_bytes(b"\x00binary")
    code, lines, err = run("runbooks", "index", str(tmp_path), "--json")
    assert code == 0 and lines[0]["indexed"] == 1 and lines[0]["skipped"] == 1
    assert "skipped bad.md: binary" in err
    code, lines, _ = run("runbooks", "index", str(tmp_path), "--json")
    assert lines[0]["unchanged"] == 1 and lines[0]["added"] == 0


def test_user_errors_exit_with_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("runbooks", "index", str(tmp_path / "missing"), "--json")
    assert code == 1 and "is not a folder" in err
    code, _, err = run("runbooks", "search", "--json")
    assert code == 2 and "either TEXT or --queries" in err
    code, _, err = run("runbooks", "outcome", "nope/Nothing", "--success")
    assert code == 1 and "no indexed runbook" in err
    code, lines, err = run("runbooks", "search", "anything", "--json")
    assert code == 0 and lines[0]["matches"] == [] and "no runbooks are indexed" in err
