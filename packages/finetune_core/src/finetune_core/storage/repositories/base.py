"""What every aggregate's repository does the same way: add, fetch by id, save, delete, page through."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from finetune_core.domain import utcnow
from finetune_core.errors import NotFoundError
from finetune_core.storage.rows import page, row_values, to_row_values, update_row
from finetune_core.storage.tables import Base

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=Base)
ID_BATCH = 500  # ids per IN (...): well under every database's limit of bound parameters


class AggregateRepository(Generic[M, R]):
    """Subclasses name their domain model, their row class and how a missing one is reported."""

    model: ClassVar[type[Any]]
    row_type: ClassVar[type[Any]]
    label: ClassVar[str]  # "project": "project 'x' not found"
    id_name: ClassVar[str]  # "project_id": the key of the id in the error's context
    fresh_reads: ClassVar[bool] = False  # re-read the row on `get` (a job or fine-tune another process moves)

    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, item_id: str) -> R:
        row: R | None = self.session.get(self.row_type, item_id)
        if row is None:
            raise NotFoundError(f"{self.label} '{item_id}' not found", **{self.id_name: item_id})
        return row

    def _model(self, row: R) -> M:
        found: M = self.model.model_validate(row_values(row))
        return found

    def add(self, item: M) -> M:
        self.session.add(self.row_type(**to_row_values(item)))
        self.session.flush()
        return item

    def get(self, item_id: str) -> M:
        row = self._row(item_id)
        if self.fresh_reads:
            self.session.refresh(row)
        return self._model(row)

    def save(self, item: M) -> M:
        """Write every field of `item` but its id and creation time, stamping `updated_at`."""
        item.updated_at = utcnow()  # type: ignore[attr-defined]  # every saved aggregate has one
        update_row(self._row(item.id), item)  # type: ignore[attr-defined]
        self.session.flush()
        return item

    def delete(self, item_id: str) -> None:
        self.session.delete(self._row(item_id))
        self.session.flush()

    def _page(self, query: Select[Any], limit: int | None, offset: int) -> tuple[list[M], int]:
        rows, total = page(self.session, query, limit, offset)
        return [self._model(row) for row in rows], total

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that have a row (any number of ids: asked ID_BATCH at a time)."""
        wanted = sorted(set(ids))
        found: set[str] = set()
        id_column = self.row_type.id
        for start in range(0, len(wanted), ID_BATCH):
            found.update(self.session.scalars(select(id_column).where(id_column.in_(wanted[start:start + ID_BATCH]))))
        return found
