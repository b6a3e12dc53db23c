"""BALLAST_EMBEDDER=auto made concrete: `ballast serve` and a big `ballast ingest` get the fastest batches,
other CLI commands ONNX's quick start."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.settings import Settings, for_workload
from retrieval.embedder import CachedEmbedder
from tests.fakes.embedder import HashEmbedder


@pytest.mark.parametrize(("native", "expected"), [(True, "onnx+bf16"), (False, "onnx")])
def test_auto_becomes_the_fastest_batches_for_a_server(home: Path, native: bool, expected: str) -> None:
    settings = Settings(BALLAST_HOME=home)
    assert settings.embedder == "auto"
    served = for_workload(settings, long_running=True, native_bf16=native)
    assert served.embedder == expected
    assert served.home == settings.home  # nothing else changes
    assert CachedEmbedder(settings.embedder).backend == "onnx"  # the same settings in a CLI command


@pytest.mark.parametrize("named", ["onnx", "sentence-transformers", "sentence-transformers-bf16", "onnx+bf16"])
def test_a_named_backend_is_kept(home: Path, named: str) -> None:
    settings = Settings(BALLAST_HOME=home, BALLAST_EMBEDDER=named)
    assert for_workload(settings, long_running=True, native_bf16=True).embedder == named
    assert for_workload(settings, bulk=True, native_bf16=True).embedder == named


@pytest.mark.parametrize(("size_limit", "expected"), [(1 << 30, "auto"), (100, "sentence-transformers-bf16")])
def test_cli_ingest_of_a_big_file_picks_the_fastest_batches(
        monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path, size_limit: int, expected: str) -> None:
    import bot.app
    import retrieval.embedder
    from bot import cli

    built: list[Settings] = []
    real_build = bot.app.build_services

    def build(settings: Settings, embedder: object = None) -> bot.app.Services:
        built.append(settings)
        return real_build(settings, HashEmbedder())

    monkeypatch.setattr(bot.app, "build_services", build)
    monkeypatch.setattr(retrieval.embedder, "has_native_bf16", lambda cpuinfo=None: True)
    monkeypatch.setattr(retrieval.embedder, "BULK_INPUT_BYTES", size_limit)
    stream = tmp_path / "alerts.jsonl"
    stream.write_text("".join(f'{{"id": {i}, "text": "disk full on node-{i}"}}\n' for i in range(20)))
    result = CliRunner().invoke(cli.app, ["--data-dir", str(home), "ingest", str(stream), "--json"])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 20
    assert [s.embedder for s in built] == [expected]
