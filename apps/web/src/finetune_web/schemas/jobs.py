"""Background jobs: one model for every task (ingest, chunk, generate, train, export...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finetune_core.domain import JobStatus
from pydantic import BaseModel, Field

from finetune_web.pagination import ListArgs


class JobListArgs(ListArgs):
    type: str | None = Field(None, max_length=64, description="dataset_generate, chunk, ingest, fine_tune...")
    status: JobStatus | None = None


class JobOut(BaseModel):
    id: str
    project_id: str | None
    type: str
    queue: str
    status: JobStatus
    progress_pct: float
    params: dict[str, Any]
    result_summary: dict[str, Any]
    error_message: str | None
    cancel_requested: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobCancelled(JobOut):
    message: str


class JobAccepted(BaseModel):
    """The 202 of every job-starting endpoint; follow it at /api/jobs/{job_id}."""

    job_id: str
    status: JobStatus
    message: str
