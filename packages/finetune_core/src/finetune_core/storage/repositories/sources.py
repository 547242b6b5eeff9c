"""Sources: the files, pages and videos a project's data comes from."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from finetune_core.domain import Source, SourceStatus
from finetune_core.storage.repositories.base import ID_BATCH, AggregateRepository
from finetune_core.storage.tables import SourceRow


class SourceRepository(AggregateRepository[Source, SourceRow]):
    model, row_type, label, id_name = Source, SourceRow, "source", "source_id"

    def search(
        self,
        project_id: str | None,
        *,
        kind: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[Source], int]:
        query = select(SourceRow).order_by(SourceRow.created_at, SourceRow.id)
        if project_id:
            query = query.where(SourceRow.project_id == project_id)
        if kind:
            query = query.where(SourceRow.kind == kind)
        if status:
            query = query.where(SourceRow.status == status)
        return self._page(query, limit, offset)

    def unloaded(self, project_id: str) -> list[Source]:
        """The project's sources not loaded yet (pending or processing), oldest first."""
        rows = self.session.scalars(
            select(SourceRow)
            .where(SourceRow.project_id == project_id,
                   SourceRow.status.in_((SourceStatus.PENDING.value, SourceStatus.PROCESSING.value)))
            .order_by(SourceRow.created_at, SourceRow.id)
        )
        return [self._model(row) for row in rows]

    def total_bytes(self, project_id: str) -> int:
        """The summed size of the project's sources (its storage quota)."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(SourceRow.size_bytes), 0)).where(SourceRow.project_id == project_id)
        )
        return int(total or 0)

    def with_content(self, project_id: str, sha256: str, name: str) -> Source | None:
        """The source of `project_id` holding these bytes under this name (an upload's retry), if any."""
        row = self.session.scalars(
            select(SourceRow)
            .where(SourceRow.project_id == project_id, SourceRow.sha256 == sha256, SourceRow.name == name)
            .order_by(SourceRow.created_at)
        ).first()
        return self._model(row) if row else None

    def stored_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of the file-store `keys` that a source holds (its `storage_key`)."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), ID_BATCH):
            batch = wanted[start:start + ID_BATCH]
            found.update(key for key in self.session.scalars(select(SourceRow.storage_key)
                                                            .where(SourceRow.storage_key.in_(batch))) if key)
        return found
