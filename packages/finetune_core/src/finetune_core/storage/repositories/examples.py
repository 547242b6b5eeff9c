"""Examples: the training pairs generated, uploaded or judged, stored once per (request key, position)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, case, delete, func, select, update
from sqlalchemy.orm import Session

from finetune_core.domain import Example, SplitGroup
from finetune_core.errors import NotFoundError
from finetune_core.storage.rows import affected, column_values, insert_ignoring_conflicts, page, row_values
from finetune_core.storage.tables import ExampleRow


def _query(project_id: str, *, split: str | None, is_valid: bool | None, exclude_split: str | None = None
           ) -> Select[Any]:
    query = select(ExampleRow).where(ExampleRow.project_id == project_id)
    if split:
        query = query.where(ExampleRow.split == split)
    if exclude_split:
        query = query.where(ExampleRow.split != exclude_split)
    if is_valid is not None:
        query = query.where(ExampleRow.is_valid.is_(is_valid))
    return query.order_by(ExampleRow.created_at, ExampleRow.request_key, ExampleRow.position, ExampleRow.id)


def _split_filter(project_id: str, split: str | None, exclude_split: str | None) -> list[Any]:
    conditions: list[Any] = [ExampleRow.project_id == project_id]
    if split:
        conditions.append(ExampleRow.split == split)
    if exclude_split:
        conditions.append(ExampleRow.split != exclude_split)
    return conditions


class ExampleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, examples: Sequence[Example]) -> int:
        """Store examples exactly once per (request_key, position); returns how many were new."""
        return insert_ignoring_conflicts(self.session, ExampleRow, [column_values(e) for e in examples])

    def request_keys(self, project_id: str, prefix: str) -> set[str]:
        rows = self.session.scalars(
            select(ExampleRow.request_key)
            .where(ExampleRow.project_id == project_id, ExampleRow.request_key.startswith(prefix))
            .distinct()
        )
        return {key for key in rows if key}

    def delete_failed_requests(self, project_id: str, prefix: str) -> int:
        """Drop the placeholders (position -1) of failed generation requests so they run again."""
        return affected(self.session.execute(
            delete(ExampleRow).where(
                ExampleRow.project_id == project_id,
                ExampleRow.request_key.startswith(prefix),
                ExampleRow.position < 0,
            )
        ))

    def count_requested(self, project_id: str, prefix: str) -> int:
        query = select(func.count()).where(
            ExampleRow.project_id == project_id, ExampleRow.request_key.startswith(prefix), ExampleRow.position >= 0
        )
        return int(self.session.scalar(query) or 0)

    def search(
        self,
        project_id: str,
        *,
        split: str | None = None,
        is_valid: bool | None = None,
        limit: int | None = 50,
        offset: int = 0,
        exclude_split: str | None = None,
    ) -> tuple[list[Example], int]:
        query = _query(project_id, split=split, is_valid=is_valid, exclude_split=exclude_split)
        rows, total = page(self.session, query, limit, offset)
        return [Example.model_validate(row_values(row)) for row in rows], total

    def page(self, project_id: str, *, split: str | None = None, is_valid: bool | None = None,
             limit: int = 50, offset: int = 0) -> list[Example]:
        """One page of `search` without its count (the caller has it from `groups`)."""
        query = _query(project_id, split=split, is_valid=is_valid).limit(limit).offset(offset)
        return [Example.model_validate(row_values(row)) for row in self.session.scalars(query)]

    def iterate(
        self,
        project_id: str,
        *,
        split: str | None = None,
        is_valid: bool | None = None,
        exclude_split: str | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Example]:
        """Stream examples in a stable order with constant memory (server-side batches)."""
        query = _query(project_id, split=split, is_valid=is_valid, exclude_split=exclude_split)
        result = self.session.execute(query.execution_options(yield_per=batch_size))
        for row in result.scalars():
            yield Example.model_validate(row_values(row))

    def update(self, changes: Mapping[str, dict[str, Any]]) -> None:
        """Apply per-example column changes ({id: {column: value}}) in bulk."""
        if changes:
            self.session.execute(update(ExampleRow), [{"id": key, **values} for key, values in changes.items()])
            self.session.flush()

    def get(self, project_id: str, example_id: str) -> Example:
        row = self.session.get(ExampleRow, example_id)
        if row is None or row.project_id != project_id:
            raise NotFoundError(f"example '{example_id}' not found", example_id=example_id)
        return Example.model_validate(row_values(row))

    def delete(self, project_id: str, example_id: str) -> None:
        self.get(project_id, example_id)
        self.session.execute(delete(ExampleRow).where(ExampleRow.id == example_id))

    def delete_all(self, project_id: str, *, split: str | None = None, source_id: str | None = None) -> int:
        """Delete the project's examples, of one split or source when given; returns how many."""
        stmt = delete(ExampleRow).where(ExampleRow.project_id == project_id)
        if split:
            stmt = stmt.where(ExampleRow.split == split)
        if source_id:
            stmt = stmt.where(ExampleRow.source_id == source_id)
        return affected(self.session.execute(stmt))

    def totals(self, project_id: str, *, exclude_split: str | None = None) -> tuple[int, int, int]:
        """How many examples the project holds, how many are valid, and their summed token count."""
        query = select(func.count(), func.coalesce(func.sum(ExampleRow.token_count), 0),
                       func.coalesce(func.sum(case((ExampleRow.is_valid.is_(True), 1), else_=0)), 0)
                       ).where(ExampleRow.project_id == project_id)
        if exclude_split:
            query = query.where(ExampleRow.split != exclude_split)
        count, tokens, valid = self.session.execute(query).one()
        return int(count or 0), int(valid or 0), int(tokens or 0)

    def groups(self, project_id: str, *, split: str | None = None,
               exclude_split: str | None = None) -> list[SplitGroup]:
        """Count and token figures of the project's examples per (split, is_valid), computed by the database."""
        tokens = ExampleRow.token_count
        query = (select(ExampleRow.split, ExampleRow.is_valid, func.count(), func.coalesce(func.sum(tokens), 0),
                        func.coalesce(func.min(tokens), 0), func.coalesce(func.max(tokens), 0))
                 .where(*_split_filter(project_id, split, exclude_split))
                 .group_by(ExampleRow.split, ExampleRow.is_valid))
        return [SplitGroup(split, bool(valid), int(count), int(tokens), int(low), int(high))
                for split, valid, count, tokens, low, high in self.session.execute(query)]

    def error_lists(self, project_id: str, splits: Iterable[str]) -> Iterator[list[str]]:
        """The validation error codes of each invalid example of these splits (its codes are what make it invalid)."""
        wanted = sorted(set(splits))
        if not wanted:
            return
        query = (select(ExampleRow.validation_errors)
                 .where(ExampleRow.project_id == project_id, ExampleRow.split.in_(wanted),
                        ExampleRow.is_valid.is_(False)))
        yield from self.session.scalars(query.execution_options(yield_per=1000))

    def count(self, project_id: str, *, is_valid: bool | None = None) -> int:
        query = select(func.count()).where(ExampleRow.project_id == project_id)
        if is_valid is not None:
            query = query.where(ExampleRow.is_valid.is_(is_valid))
        return int(self.session.scalar(query) or 0)
