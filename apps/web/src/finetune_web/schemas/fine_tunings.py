"""Fine-tunings as fintune-platform shows them: `dataset_id` is the project whose dataset trains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finetune_core.domain import FineTune, FineTuneStatus
from finetune_core.services.trainers import TrainerChoice
from pydantic import BaseModel, Field

from finetune_web.pagination import ListArgs, Page
from finetune_web.schemas.common import DESCRIPTION_MAX, ID_MAX, JsonObject
from finetune_web.schemas.training import ModelRef, TrainerName, methods_of

DEFAULT_PROVIDER = "openai"


class FineTuningCreate(BaseModel):
    model_config = methods_of("provider", DEFAULT_PROVIDER)

    dataset_id: str = Field(min_length=1, max_length=64, description="the project whose dataset trains")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    model: ModelRef = Field(description="the base model: gpt-4o-mini-2024-07-18...")
    provider: TrainerName = Field(DEFAULT_PROVIDER, description="a registered trainer: openai, mistral, together, "
                                                                "fireworks, local...")
    method: str | None = Field(None, max_length=32, description="absent: the trainer's default")
    hyperparameters: JsonObject = Field(default_factory=dict, description="the trainer's, e.g. n_epochs")
    options: JsonObject = Field(default_factory=dict, description="the trainer's own options (suffix, "
                                                                          "method: sft or dpo...)")


class FineTuningUpdate(BaseModel):
    """A partial update: absent fields stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)


class FineTuningCancel(BaseModel):
    reason: str | None = Field(None, max_length=2000, description="kept as the fine-tuning's error_message")


class FineTuningListArgs(ListArgs):
    dataset_id: str | None = Field(None, max_length=ID_MAX, description="only this dataset's (its project's) "
                                                                       "fine-tunings")
    project_id: str | None = Field(None, max_length=ID_MAX,
                                   description="the same filter: a dataset is its project's here")


class FineTuningMetrics(BaseModel):
    training_loss: float | None = None
    validation_loss: float | None = None
    step: int | float | None = None
    total_steps: int | float | None = None

    @classmethod
    def of(cls, metrics: dict[str, Any]) -> FineTuningMetrics:
        return cls(training_loss=metrics.get("train_loss"),
                   validation_loss=metrics.get("valid_loss", metrics.get("eval_loss")),
                   step=metrics.get("step"), total_steps=metrics.get("total_steps"))


class FineTuningOut(BaseModel):
    id: str
    dataset_id: str
    project_id: str
    name: str
    description: str | None
    model: str = Field(description="the base model")
    provider: str = Field(description="the trainer")
    method: str | None
    status: FineTuneStatus
    progress: float
    hyperparameters: dict[str, Any]
    external_id: str | None = Field(description="the provider's job id")
    metrics: FineTuningMetrics
    error_message: str | None
    job_id: str | None = Field(description="the background job that drives it (GET /api/jobs/{job_id})")
    model_id: str | None = Field(description="the model it registered, once completed (GET /api/models/{model_id})")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, fine_tune: FineTune) -> FineTuningOut:
        return cls(id=fine_tune.id, dataset_id=fine_tune.project_id, project_id=fine_tune.project_id,
                   name=fine_tune.name, description=fine_tune.description, model=fine_tune.base_model,
                   provider=fine_tune.trainer, method=fine_tune.method, status=fine_tune.status,
                   progress=fine_tune.progress, hyperparameters=fine_tune.hyperparameters,
                   external_id=fine_tune.external_id, metrics=FineTuningMetrics.of(fine_tune.metrics),
                   error_message=fine_tune.error_message, job_id=fine_tune.job_id, model_id=fine_tune.model_id,
                   created_at=fine_tune.created_at, updated_at=fine_tune.updated_at,
                   started_at=fine_tune.started_at, completed_at=fine_tune.completed_at)


class FineTuningPage(Page[FineTuningOut]):
    trainers: list[TrainerChoice] = Field(description="every installed trainer, whether it takes a new fine-tuning "
                                                      "now with your keys, and why not (`reason`)")
