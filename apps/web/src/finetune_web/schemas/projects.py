"""Projects (finetuneflow's fields) and the resolution of their base model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from finetune_core.chunking.tokenizers import OPENAI_ENCODINGS
from finetune_core.domain import ProjectConfig, ProjectStatus, TaskType
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from finetune_web.pagination import ListArgs
from finetune_web.schemas.common import DESCRIPTION_MAX, PROMPT_MAX, at_most_bytes
from finetune_web.schemas.datasets import Chunker, GeneratorName
from finetune_web.schemas.training import ModelRef

CONFIG_MAX_BYTES = 64 * 1024
CORE_CONFIG = ProjectConfig()  # the core's defaults, which the bounded fields below keep
# the tokenizers every server has; an operator's own is `hf:<folder of a tokenizer.json on the server>`
Tokenizer = Annotated[str, StringConstraints(min_length=1, max_length=64), WithJsonSchema({
    "type": "string", "enum": [*OPENAI_ENCODINGS, "whitespace"],
    "description": "or hf:<a folder of a tokenizer.json on the server>; 400 for another"})]


class ProjectConfigBody(ProjectConfig):
    """A project's config as a request gives it: its text bounded, and 64 KiB at most as JSON (plugins' keys too)."""

    chunker: Chunker = CORE_CONFIG.chunker  # installed ones: 400 for another, when set
    tokenizer: Tokenizer = CORE_CONFIG.tokenizer
    generator: GeneratorName = CORE_CONFIG.generator
    model: str | None = Field(None, max_length=300)
    language: str | None = Field(None, max_length=64)
    system_prompt: str | None = Field(None, max_length=PROMPT_MAX)


BoundedConfig = Annotated[ProjectConfigBody, at_most_bytes(CONFIG_MAX_BYTES)]


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    task_type: TaskType = TaskType.QA
    config: BoundedConfig | None = Field(None, description="absent keys take their defaults")


class ProjectUpdate(BaseModel):
    """A partial update (PUT acts like PATCH); `config` is merged key by key into the current one."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    task_type: TaskType | None = None
    base_model_id: str | None = Field(None, max_length=300)
    config: BoundedConfig | None = None


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
    model_id: ModelRef = Field(description="a Hugging Face id: meta-llama/Llama-3.1-8B")


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
