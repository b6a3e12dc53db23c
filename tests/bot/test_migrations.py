"""The Alembic migrations: they build the schema, re-running them is a no-op, and they match the models."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel

import bot.models  # noqa: F401  (registers the tables)
from bot.db import SCHEMA_HEAD, alembic_config, make_engine, migrate, schema_revision
from bot.models import Tenant

TABLES = {"tenants", "incidents", "signals"}


def _head(url: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def _current(engine) -> str | None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_schema_head_constant_is_the_newest_migration(database_url: str) -> None:
    # migrate() skips Alembic when the database is at SCHEMA_HEAD: a new migration must move it.
    assert SCHEMA_HEAD == _head(database_url)
    engine = make_engine(database_url)
    assert schema_revision(engine) is None
    migrate(engine)
    assert schema_revision(engine) == SCHEMA_HEAD
    engine.dispose()


def test_upgrade_head_on_an_empty_database_creates_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(engine)
        names = set(inspect(engine).get_table_names())
        assert TABLES <= names
        assert "alembic_version" in names
        assert _current(engine) == _head(database_url)
        unique = {c["name"] for c in inspect(engine).get_unique_constraints("incidents")}
        assert "uq_incidents_open_key" in unique
    finally:
        engine.dispose()


def test_upgrading_twice_is_a_no_op_and_keeps_data(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Session(engine) as s:
            s.add(Tenant(id="acme", created_at=datetime.now(UTC)))
            s.commit()
        migrate(engine)
        assert _current(engine) == _head(database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert conn.execute(text("SELECT id FROM tenants")).scalars().all() == ["acme"]
    finally:
        engine.dispose()


def test_models_match_the_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], "models and migrations differ; write a migration (alembic revision --autogenerate):\n" + \
            "\n".join(map(str, diff))
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        config = alembic_config(database_url)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
