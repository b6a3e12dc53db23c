"""ARCHITECTURE.md's rules, checked: import contracts, and a CLI that imports no heavy library up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, ballast_exe, cli_env

# Libraries that take a second or more to import: `ballast --help` must stay well under 0.5 s.
HEAVY = ("sentence_transformers", "torch", "transformers", "litellm", "qdrant_client", "qdrant_edge", "onnxruntime")


def test_import_contracts_hold() -> None:
    exe = BIN / "lint-imports"
    if not exe.exists():
        pytest.fail("lint-imports is not installed next to the interpreter: pip install -e '.[dev]'")
    proc = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, f"import-linter contracts broken:\n{proc.stdout}\n{proc.stderr}"


def _loaded_after(code: str, home: Path) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=cli_env(home), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library(home: Path) -> None:
    loaded = _loaded_after("import bot.cli", home)
    assert not loaded & set(HEAVY), f"`import bot.cli` pulls in {sorted(loaded & set(HEAVY))}"


def test_help_loads_no_heavy_library(home: Path) -> None:
    code = ("import sys\nsys.argv = ['ballast', '--help']\nimport bot.cli\n"
            "try:\n    bot.cli.main()\nexcept SystemExit:\n    pass\n")
    loaded = _loaded_after(code, home)
    assert not loaded & set(HEAVY), f"`ballast --help` pulls in {sorted(loaded & set(HEAVY))}"


def test_help_runs(home: Path) -> None:
    proc = subprocess.run([ballast_exe(), "--help"], env=cli_env(home), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for command in ("ingest", "incidents"):
        assert command in proc.stdout
