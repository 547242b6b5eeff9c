"""Alembic environment: the engine comes from finetune_core.storage.database.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from finetune_core.storage import billing_tables  # noqa: F401  (its rows join the same metadata)
from finetune_core.storage.forum_tables import include_name  # (and its rows join the same metadata)
from finetune_core.storage.tables import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if connection.dialect.name == "sqlite":
        # one migrating process at a time: two processes opening a new workspace together (gunicorn workers, a
        # worker and the CLI) would otherwise both see no schema and both create it; the other waits, then finds
        # the schema at head (PostgreSQL runs DDL in the transaction, which Alembic's version table serialises)
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=include_name,  # the forum's search index is outside the metadata
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
