"""Shared fixtures: an isolated environment, a temp data dir, both databases, services on a fake embedder.

`database_url` runs each test that uses it on SQLite and, when BALLAST_TEST_DATABASE_URL names a
PostgreSQL, on a fresh schema of that database (dropped afterwards). Without that variable the
PostgreSQL runs are skipped, except in CI (CI=true), where a missing database is a failure.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.app import Services, build_services
from bot.settings import Settings
from tests.fakes.embedder import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
# Read once, before any fixture strips BALLAST_* from the environment.
PG_URL = os.environ.get("BALLAST_TEST_DATABASE_URL") or None
IN_CI = os.environ.get("CI", "").lower() == "true"
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No BALLAST_*/SLACK_* from the developer's shell, and a cwd without a .env or ballast.yaml."""
    for name in list(os.environ):
        if name.startswith(("BALLAST_", "SLACK_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a brand-new schema, dropped after the test."""
    if PG_URL is None:
        if IN_CI:
            pytest.fail("CI=true but BALLAST_TEST_DATABASE_URL is unset: the PostgreSQL tests must run in CI")
        pytest.skip("BALLAST_TEST_DATABASE_URL is unset (set it to a postgresql+psycopg:// URL to run these)")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'ballast.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(home: Path, database_url: str) -> Settings:
    return Settings(BALLAST_HOME=home, BALLAST_DATABASE_URL=database_url)


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def make_services(settings: Settings) -> Iterator[Callable[..., Services]]:
    """Build services on the test's settings with a chosen embedder (closed at teardown)."""
    built: list[Services] = []

    def make(embedder: object | None = None, **overrides: object) -> Services:
        s = settings.model_copy(update=overrides) if overrides else settings
        svc = build_services(s, embedder=embedder or HashEmbedder())  # type: ignore[arg-type]
        built.append(svc)
        return svc

    yield make
    for svc in reversed(built):
        svc.close()


@pytest.fixture
def services(make_services: Callable[..., Services], embedder: HashEmbedder) -> Services:
    return make_services(embedder)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a `ballast` subprocess: the test's (already stripped) plus a data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SLACK_"))}
    env.update({"BALLAST_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def ballast_exe() -> str:
    exe = BIN / "ballast"
    if not exe.exists():
        pytest.fail(f"the `ballast` console script is not next to {sys.executable}: pip install -e '.[dev]'")
    return str(exe)
