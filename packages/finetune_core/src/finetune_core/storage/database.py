"""Engines and schema migrations: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision; bump it with every new migration (a test checks it against Alembic's).
HEAD_REVISION = "0008"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def make_engine(url: str) -> Engine:
    """An engine tuned for its backend; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, future=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def schema_revision(engine: Engine) -> str | None:
    """The revision recorded in the database's `alembic_version` table; None where there is no schema yet."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return str(found) if found is not None else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent; safe from several processes on PostgreSQL)."""
    if revision == "head" and schema_revision(engine) == HEAD_REVISION:
        # the usual open of an existing workspace: Alembic (~3 MB resident, a tenth of a second) is not imported
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
