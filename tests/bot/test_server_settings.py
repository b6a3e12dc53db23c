"""`ballast serve` makes BALLAST_EMBEDDER=auto concrete for a long-running process; CLI commands keep ONNX."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.serve import server_settings
from bot.settings import Settings
from retrieval.embedder import CachedEmbedder


@pytest.mark.parametrize(("native", "expected"), [(True, "onnx+bf16"), (False, "onnx")])
def test_auto_becomes_the_fastest_batches_for_a_server(home: Path, native: bool, expected: str) -> None:
    settings = Settings(BALLAST_HOME=home)
    assert settings.embedder == "auto"
    served = server_settings(settings, native_bf16=native)
    assert served.embedder == expected
    assert served.home == settings.home  # nothing else changes
    assert CachedEmbedder(settings.embedder).backend == "onnx"  # the same settings in a CLI command


@pytest.mark.parametrize("named", ["onnx", "sentence-transformers", "sentence-transformers-bf16", "onnx+bf16"])
def test_a_named_backend_is_kept(home: Path, named: str) -> None:
    assert server_settings(Settings(BALLAST_HOME=home, BALLAST_EMBEDDER=named), native_bf16=True).embedder == named
