"""Training as finetuneflow §8 shows it: start, status, cancel (the stream's events are in routes.training)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from finetune_core.domain import FineTune, FineTuneStatus, JobStatus, utcnow
from finetune_core.services.model_access import MODEL_NAME
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from finetune_web.schemas.bridge import METHODS, plugin_name
from finetune_web.schemas.common import DESCRIPTION_MAX, JsonObject

DEFAULT_TRAINER = "local"
TrainerName = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("trainers")]
MODEL_MAX = 300
# what the server checks a base model against (`model_access.check_base_model`: 400 MODEL_PATH_NOT_ALLOWED)
ModelRef = Annotated[str, StringConstraints(min_length=1, max_length=MODEL_MAX), WithJsonSchema({
    "type": "string", "minLength": 1, "maxLength": MODEL_MAX, "pattern": MODEL_NAME.pattern,
    "description": "a Hugging Face Hub id (org/name) or a provider's model name; or one of your registered models, "
                   "or a folder under the server's models directory (FINETUNE_MODELS_DIR)"})]


def methods_of(trainer_field: str, default: str) -> ConfigDict:
    """A training body's config: its `method` is documented as one of the methods of the trainer it names."""
    return ConfigDict(json_schema_extra={METHODS: {"trainer": trainer_field, "default": default}})
# a fine-tuning's status as a finetuneflow job status
JOB_STATUS = {FineTuneStatus.QUEUED: JobStatus.QUEUED, FineTuneStatus.PREPARING: JobStatus.RUNNING,
              FineTuneStatus.TRAINING: JobStatus.RUNNING, FineTuneStatus.COMPLETED: JobStatus.SUCCESS,
              FineTuneStatus.CANCELLED: JobStatus.CANCELLED, FineTuneStatus.ERROR: JobStatus.FAILED}


class TrainStartBody(BaseModel):
    model_config = methods_of("trainer", DEFAULT_TRAINER)

    method: str | None = Field(None, max_length=32, description="lora, qlora, full...; absent: the trainer's default")
    hyperparams: JsonObject = Field(default_factory=dict, description="the trainer's hyperparameters")
    base_model: ModelRef | None = Field(None, description="absent: the project's base_model_id")
    trainer: TrainerName = Field(DEFAULT_TRAINER, description="a registered trainer: local (this machine's GPU), "
                                                              "openai, mistral, together, fireworks...")
    options: JsonObject = Field(default_factory=dict, description="the trainer's own options")
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)


class TrainStarted(BaseModel):
    job_id: str
    run_id: str = Field(description="the fine-tuning's id (GET /api/fine-tunings/{run_id})")
    status: JobStatus
    message: str


class TrainMetrics(BaseModel):
    step: int | float | None = None
    total_steps: int | float | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    epoch: float | None = None

    @classmethod
    def of(cls, metrics: dict[str, Any]) -> TrainMetrics:
        eval_loss = metrics.get("eval_loss", metrics.get("valid_loss"))
        return cls.model_validate({**metrics, "eval_loss": eval_loss})


class TrainStatusOut(BaseModel):
    """The project's current or last training run."""

    run_id: str
    job_id: str | None
    status: JobStatus = Field(description="as a job: queued, running, success, failed, cancelled")
    fine_tune_status: FineTuneStatus = Field(description="as a fine-tuning: queued, preparing, training, ...")
    method: str | None
    trainer: str
    base_model: str
    progress_pct: float
    current_metrics: TrainMetrics
    model_id: str | None = Field(description="the model it registered, once completed")
    error_message: str | None
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: int

    @classmethod
    def of(cls, fine_tune: FineTune) -> TrainStatusOut:
        started, finished = fine_tune.started_at, fine_tune.completed_at
        elapsed = int(((finished or utcnow()) - started).total_seconds()) if started else 0
        return cls(run_id=fine_tune.id, job_id=fine_tune.job_id, status=JOB_STATUS[fine_tune.status],
                   fine_tune_status=fine_tune.status, method=fine_tune.method, trainer=fine_tune.trainer,
                   base_model=fine_tune.base_model, progress_pct=fine_tune.progress,
                   current_metrics=TrainMetrics.of(fine_tune.metrics), model_id=fine_tune.model_id,
                   error_message=fine_tune.error_message, started_at=started, finished_at=finished,
                   elapsed_seconds=max(0, elapsed))


class TrainCancelled(BaseModel):
    run_id: str
    job_id: str | None
    status: JobStatus = Field(description="cancelled, or running while the trainer has yet to stop")
    cancel_requested: bool
    message: str
