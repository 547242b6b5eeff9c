"""Chunks: the passages a document is cut into, which generators read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from finetune_core.domain import Chunk
from finetune_core.storage.rows import page, row_values, to_row_values
from finetune_core.storage.tables import ChunkRow


class ChunkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def replace(self, source_id: str, chunks: Sequence[Chunk]) -> None:
        """Swap a source's chunks in one transaction; examples keep their text via chunk_id SET NULL."""
        self.session.execute(delete(ChunkRow).where(ChunkRow.source_id == source_id))
        if chunks:
            self.session.execute(insert(ChunkRow), [to_row_values(chunk) for chunk in chunks])
        self.session.flush()

    def search(
        self, project_id: str, *, source_id: str | None = None, limit: int | None = 50, offset: int = 0
    ) -> tuple[list[Chunk], int]:
        query = (
            select(ChunkRow)
            .where(ChunkRow.project_id == project_id)
            .order_by(ChunkRow.created_at, ChunkRow.source_id, ChunkRow.chunk_index)
        )
        if source_id:
            query = query.where(ChunkRow.source_id == source_id)
        rows, total = page(self.session, query, limit, offset)
        return [Chunk.model_validate(row_values(row)) for row in rows], total

    def by_id(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        ids = list(set(chunk_ids))
        found: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            rows = self.session.scalars(select(ChunkRow).where(ChunkRow.id.in_(ids[start : start + 500])))
            found.update({row.id: Chunk.model_validate(row_values(row)) for row in rows})
        return found

    def count(self, project_id: str) -> int:
        return int(self.session.scalar(select(func.count()).where(ChunkRow.project_id == project_id)) or 0)
