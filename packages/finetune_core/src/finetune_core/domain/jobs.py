"""Jobs: the recorded runs of pipeline steps and trainings, with their event logs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from finetune_core.domain.common import new_id, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED)


class JobEvent(BaseModel):
    """One entry of a job's event log; the SSE stream reads these in `seq` order."""

    seq: int
    job_id: str
    type: str  # log, progress, eval, checkpoint, complete, error
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class Job(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str | None = None
    type: str
    queue: str = "default"  # where a queue-based runner sends it: "default", or "gpu" for local training
    status: JobStatus = JobStatus.QUEUED
    progress_pct: float = 0.0
    params: dict[str, Any] = Field(default_factory=dict)
    result_summary: dict[str, Any] = Field(default_factory=dict)
    error_message: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None

    @field_validator("progress_pct")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return max(0.0, min(100.0, value))
