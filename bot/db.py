"""Database engine and schema: SQLite by default, any SQLAlchemy URL in production, migrated by Alembic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, event, inspect, text
from sqlmodel import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration; tests/bot/test_migrations.py checks it against the migrations folder.
SCHEMA_HEAD = "0008_sweep_indexes"
MIGRATION_LOCK = 0x62616C6C617374  # "ballast": the advisory lock id taken while migrating PostgreSQL


def _sqlite_pragmas(synchronous: str) -> Callable[..., None]:
    def apply(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # WAL lets readers run beside one writer. In WAL mode synchronous=NORMAL keeps every
        # committed transaction across a process crash (kill -9) but not across an OS crash or
        # power loss, which may drop the last ones: it fsyncs the log only at checkpoints.
        # synchronous=FULL fsyncs the log at every commit (see `acknowledging_engine`).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return apply


def _sqlite_begin_before_savepoint(conn, _name) -> None:  # type: ignore[no-untyped-def]
    # The sqlite3 module opens a transaction only before INSERT/UPDATE/DELETE, not before
    # SAVEPOINT. A SAVEPOINT outside a transaction starts one of its own, and its RELEASE then
    # COMMITS: a batch whose first write is a nested insert (a new tenant or incident) would be
    # committed piecemeal. Open the outer transaction first so RELEASE only ends the savepoint.
    # Deferred BEGIN: the write lock is taken by the first write, after the busy timeout.
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Engine:
    """An engine for `url`; SQLite gets its folder created, WAL mode and `synchronous`."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas(synchronous))
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def acknowledging_engine(engine: Engine, synchronous: Literal["NORMAL", "FULL"] = "FULL") -> Engine:
    """The engine for writes that are acknowledged as stored (the inbox commit behind a 2xx).

    On a SQLite file: a second engine on the same file with synchronous=FULL, so an acknowledged
    row survives power loss too, not only a crash of the process. The WAL is one sequential file,
    so that fsync also makes every earlier commit of the other connections durable; what an OS
    crash can still drop is work the workers committed after the last acknowledgement, and they
    redo it from the inbox (a replay). Under load the group commit shares one fsync between many
    requests. Elsewhere (PostgreSQL commits durably by default), for an in-memory SQLite
    database, and with `synchronous="NORMAL"` (BALLAST_SQLITE_ACK_SYNCHRONOUS, the faster and
    weaker choice): `engine` itself. Dispose a returned engine that is not `engine`.
    """
    url = engine.url
    if synchronous == "NORMAL" or url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    return make_engine(url.render_as_string(hide_password=False), synchronous="FULL")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe on every start).

    A current schema is recognised with one query, so commands don't pay for importing Alembic.
    """
    if schema_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Replicas starting together would race to create the same tables: one migrates,
            # the others wait here, then find the schema current. Released at commit.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
