"""Turning domain models into row values and back, and the paging every listing shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.orm import Session

from finetune_core.storage.tables import Base

_RENAMED = {"metadata": "metadata_"}


def column_values(model: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    """Values keyed by column name, for Core inserts (datetimes kept as objects)."""
    values: dict[str, Any] = model.model_dump(mode="json", exclude=exclude)
    for field in values:
        if isinstance(attribute := getattr(model, field, None), datetime):
            values[field] = attribute
    return values


def to_row_values(model: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    """Values keyed by ORM attribute name (`metadata` is `metadata_` on the row classes)."""
    return {_RENAMED.get(key, key): value for key, value in column_values(model, exclude).items()}


def row_values(row: Base) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in row.__mapper__.column_attrs}
    if "metadata_" in values:
        values["metadata"] = values.pop("metadata_")
    return values


def update_row(row: Base, model: Any) -> None:
    """Copy `model`'s fields onto its row, but its id and creation time."""
    for key, value in to_row_values(model, exclude={"id", "created_at"}).items():
        setattr(row, key, value)


def insert_ignoring_conflicts(session: Session, row_type: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert rows, silently skipping those that hit a unique constraint; returns rows inserted.

    Counted through RETURNING: drivers disagree on executemany's rowcount (psycopg gives -1).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = cast(Table, row_type.__table__)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        stmt: Any = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other backends get a plain insert
        stmt = table.insert()
    result = session.execute(stmt.returning(table.c.id), rows)
    return len(result.all())


def page(session: Session, query: Select[Any], limit: int | None, offset: int) -> tuple[list[Any], int]:
    """One page of `query`'s rows and the count of all of them."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query.offset(offset))), int(total)


def affected(result: Any) -> int:
    """The rows an UPDATE or DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)
