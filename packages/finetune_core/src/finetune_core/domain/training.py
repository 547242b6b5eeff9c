"""Fine-tuning: one training run of a project's dataset, and the model it yields."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from finetune_core.domain.common import new_id, utcnow


class FineTuneStatus(StrEnum):
    """queued -> preparing -> training -> completed / cancelled / error (fintune-platform)."""

    QUEUED = "queued"
    PREPARING = "preparing"
    TRAINING = "training"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        return self in (FineTuneStatus.COMPLETED, FineTuneStatus.CANCELLED, FineTuneStatus.ERROR)


class FineTune(BaseModel):
    """One training run of a project's dataset: at a provider (hosted) or on this machine (local).

    `job_id` is the core job that drives it (its event log is the training stream); `external_id`
    the provider's job id; `state` what a trainer needs to resume after a crash (uploaded file ids...);
    `model_id` the TrainedModel it registered once completed.
    """

    id: str = Field(default_factory=new_id)
    project_id: str
    owner_id: str | None = None
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    trainer: str  # a registered trainer: openai, mistral, together, local...
    method: str | None = None  # lora, qlora, full, supervised, dpo...: what the trainer accepts
    base_model: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)  # the trainer's own: base_url, suffix, poll_interval_s...
    status: FineTuneStatus = FineTuneStatus.QUEUED
    progress: float = 0.0
    metrics: dict[str, Any] = Field(default_factory=dict)  # step, total_steps, train_loss, valid_loss...
    external_id: str | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    job_id: str | None = None
    model_id: str | None = None
    error_message: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @field_validator("progress")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return max(0.0, min(100.0, value))


class TrainedModel(BaseModel):
    """A fine-tuned result that chats, agents and issued keys can point at."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    project_id: str | None = None
    fine_tune_id: str | None = None
    name: str = Field(min_length=1, max_length=200)
    base_model: str
    provider: str  # the trainer (openai, mistral, together, local) or any chat-model provider
    provider_model_id: str | None = None  # "ft:gpt-4o-mini:org::abc" at a provider
    artifact_path: str | None = None  # a local adapter, in the workspace's file store
    version: str = "1"
    status: str = "ready"
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
