"""Models entered by hand (dualqueryintelligence's `POST /api/models`) and who may see a model.

A finished fine-tuning registers its model itself (`TrainingRun.register_model`); `create_model`
records one that was trained elsewhere: a name, its base model, and where to reach it
(`provider` and `provider_model_id`), with metrics such as accuracy, f1_score or loss.
Listing and reading are `fine_tunes.list_models` and `fine_tunes.get_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import TrainedModel
from finetune_core.errors import NotFoundError
from finetune_core.services import fine_tunes

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MANUAL = "manual"  # the provider of a model entered by hand with no provider named


def create_model(workspace: WorkspacePort, *, name: str, base_model: str, version: str = "1", status: str = "ready",
                 provider: str = MANUAL, provider_model_id: str | None = None, project_id: str | None = None,
                 metrics: dict[str, Any] | None = None, owner_id: str | None = None) -> TrainedModel:
    """Record a model; `project_id` (its dataset's project), when given, must exist."""
    model = TrainedModel(owner_id=owner_id, project_id=project_id, name=name, base_model=base_model,
                         provider=provider, provider_model_id=provider_model_id, version=version, status=status,
                         metrics=dict(metrics or {}))
    with workspace.unit_of_work() as uow:
        if project_id is not None:
            uow.projects.get(project_id)
        return uow.models.add(model)


def owned_model(workspace: WorkspacePort, model_id: str, owner_id: str | None) -> TrainedModel:
    """The model if `owner_id` may see it (None: the local single user, who sees all); else NotFoundError."""
    model = fine_tunes.get_model(workspace, model_id)  # NotFoundError when there is none
    if owner_id is not None and model.owner_id != owner_id:
        raise NotFoundError(f"model '{model_id}' not found", model_id=model_id)
    return model
