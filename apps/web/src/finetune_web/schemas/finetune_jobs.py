"""Fine-tunings as dualqueryintelligence shows them (`/api/finetune`): the same core fine-tunings."""

from __future__ import annotations

from datetime import datetime

from finetune_core.domain import FineTune, FineTuneStatus
from finetune_core.services.training_runs import status_line
from pydantic import BaseModel, Field

from finetune_web.schemas.common import JsonObject
from finetune_web.schemas.training import DEFAULT_TRAINER, ModelRef, TrainerName, methods_of


class FinetuneJobCreate(BaseModel):
    """dualqueryintelligence's body; its status, progress, current_step and logs are the trainer's to report."""

    model_config = methods_of("trainer", DEFAULT_TRAINER)

    dataset_id: str = Field(min_length=1, max_length=64, description="the project whose dataset trains")
    base_model: ModelRef
    trainer: TrainerName = Field(DEFAULT_TRAINER, description="a registered trainer: local, openai, mistral, "
                                                              "together, fireworks...")
    method: str | None = Field(None, max_length=32, description="absent: the trainer's default")
    hyperparameters: JsonObject = Field(default_factory=dict)
    options: JsonObject = Field(default_factory=dict, description="the trainer's own options")
    name: str | None = Field(None, min_length=1, max_length=200)


class FinetuneStatusUpdate(BaseModel):
    """What a worker reports, as query arguments (dualqueryintelligence) or a JSON body; the body wins."""

    status_update: FineTuneStatus | None = Field(None, description="the new status")
    progress: float | None = Field(None, ge=0, le=100)
    current_step: str | None = Field(None, max_length=500)
    logs: str | None = Field(None, max_length=10_000, description="the latest log line(s)")


class FinetuneStatusQuery(FinetuneStatusUpdate):
    """The report as query arguments: short enough for the request line (8 KiB at most, each character up to 12
    once percent-encoded); longer logs go in the body."""

    current_step: str | None = Field(None, max_length=200)
    logs: str | None = Field(None, max_length=400, description="the latest log line(s)")


class FinetuneJobOut(BaseModel):
    id: str
    user_id: str | None
    model_id: str | None = Field(description="the model it registered, once completed")
    dataset_id: str
    base_model: str
    trainer: str
    method: str | None
    name: str
    status: FineTuneStatus
    progress: float
    current_step: str
    logs: str | None
    job_id: str | None = Field(description="the background job that drives it")
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, fine_tune: FineTune) -> FinetuneJobOut:
        current_step, logs = status_line(fine_tune)
        return cls(id=fine_tune.id, user_id=fine_tune.owner_id, model_id=fine_tune.model_id,
                   dataset_id=fine_tune.project_id, base_model=fine_tune.base_model, trainer=fine_tune.trainer,
                   method=fine_tune.method, name=fine_tune.name, status=fine_tune.status, progress=fine_tune.progress,
                   current_step=current_step, logs=logs, job_id=fine_tune.job_id, created_at=fine_tune.created_at,
                   completed_at=fine_tune.completed_at)
