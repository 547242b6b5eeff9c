"""Trained models: what a finished fine-tune registers (a provider's model id, or a local adapter)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from finetune_core.domain import TrainedModel
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.tables import TrainedModelRow


class ModelRepository(AggregateRepository[TrainedModel, TrainedModelRow]):
    model, row_type, label, id_name = TrainedModel, TrainedModelRow, "model", "model_id"

    def add(self, model: TrainedModel) -> TrainedModel:
        """Insert `model`; for a fine-tune that already registered one, return that one instead."""
        if model.fine_tune_id is not None:
            existing = self.session.scalars(
                select(TrainedModelRow).where(TrainedModelRow.fine_tune_id == model.fine_tune_id)
            ).first()
            if existing is not None:
                return self._model(existing)
        return super().add(model)

    def search(self, *, owner_id: str | None = None, project_id: str | None = None, limit: int | None = 50,
               offset: int = 0) -> tuple[list[TrainedModel], int]:
        query = select(TrainedModelRow).order_by(TrainedModelRow.created_at.desc(), TrainedModelRow.id)
        if owner_id:
            query = query.where(TrainedModelRow.owner_id == owner_id)
        if project_id:
            query = query.where(TrainedModelRow.project_id == project_id)
        return self._page(query, limit, offset)

    def set_metrics(self, model_id: str, metrics: dict[str, Any]) -> TrainedModel:
        """Replace the model's metrics (e.g. an evaluation's figures beside its training's); NotFoundError if none."""
        row = self._row(model_id)
        row.metrics = dict(metrics)
        self.session.flush()
        return self._model(row)

    def delete_of(self, owner_id: str) -> None:
        self.session.execute(delete(TrainedModelRow).where(TrainedModelRow.owner_id == owner_id))

    def artifact_paths(self) -> list[str]:
        """Every file-store key (a folder) that a model names as its files."""
        return [path for path in self.session.scalars(select(TrainedModelRow.artifact_path)
                                                      .where(TrainedModelRow.artifact_path.is_not(None))) if path]
