"""Projects (finetuneflow's fields) and the resolution of their base model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finetune_core.domain import ProjectConfig, ProjectStatus, TaskType
from pydantic import BaseModel, ConfigDict, Field

from finetune_web.pagination import ListArgs


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    task_type: TaskType = TaskType.QA
    config: ProjectConfig | None = Field(None, description="absent keys take their defaults")


class ProjectUpdate(BaseModel):
    """A partial update (PUT acts like PATCH); `config` is merged key by key into the current one."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    task_type: TaskType | None = None
    base_model_id: str | None = Field(None, max_length=300)
    config: ProjectConfig | None = None


class ProjectListArgs(ListArgs):
    status: ProjectStatus | None = None


class ProjectStats(BaseModel):
    file_count: int
    chunk_count: int
    example_count: int
    last_job_status: str | None


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str | None
    task_type: TaskType
    status: ProjectStatus
    base_model_id: str | None
    model_info: dict[str, Any] | None
    config: ProjectConfig
    owner_id: str | None
    created_at: datetime
    updated_at: datetime
    stats: ProjectStats


class ModelResolveBody(BaseModel):
    model_id: str = Field(min_length=1, max_length=300, description="a Hugging Face id: meta-llama/Llama-3.1-8B")


class ModelInfoOut(BaseModel):
    """finetuneflow §3; whatever else the local-GPU plugin reports is passed on."""

    model_config = ConfigDict(extra="allow")

    model_id: str
    model_type: str | None = None
    num_parameters: int | None = None
    estimated_vram_fp16_gb: float | None = None
    estimated_vram_4bit_gb: float | None = None
    architecture: str | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    license: str | None = None
    valid: bool = False
    warnings: list[str] = Field(default_factory=list)
