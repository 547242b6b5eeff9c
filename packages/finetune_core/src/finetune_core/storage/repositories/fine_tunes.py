"""Fine-tunes: one training of a base model on a project's dataset, hosted or local."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from finetune_core.domain import FineTune, utcnow
from finetune_core.errors import NotFoundError
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import affected
from finetune_core.storage.tables import FineTuneRow


class FineTuneRepository(AggregateRepository[FineTune, FineTuneRow]):
    model, row_type, label, id_name, fresh_reads = FineTune, FineTuneRow, "fine-tuning", "fine_tune_id", True

    def update(self, fine_tune_id: str, **values: Any) -> None:
        result = self.session.execute(
            update(FineTuneRow).where(FineTuneRow.id == fine_tune_id).values(**values, updated_at=utcnow())
        )
        if not affected(result):
            raise NotFoundError(f"fine-tuning '{fine_tune_id}' not found", fine_tune_id=fine_tune_id)

    def search(
        self,
        *,
        project_id: str | None = None,
        owner_id: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[FineTune], int]:
        query = select(FineTuneRow).order_by(FineTuneRow.created_at.desc(), FineTuneRow.id)
        if project_id:
            query = query.where(FineTuneRow.project_id == project_id)
        if owner_id:
            query = query.where(FineTuneRow.owner_id == owner_id)
        if statuses:
            query = query.where(FineTuneRow.status.in_(list(statuses)))
        return self._page(query, limit, offset)

    def delete_of(self, owner_id: str) -> None:
        self.session.execute(delete(FineTuneRow).where(FineTuneRow.owner_id == owner_id))
