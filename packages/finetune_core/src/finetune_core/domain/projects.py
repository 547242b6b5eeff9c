"""A project: the task its dataset is for, and the settings every stage of its pipeline reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_core.domain.common import new_id, utcnow


class TaskType(StrEnum):
    """What a project's examples teach; `reasoning` and `preference` keep extra fields in the example's metadata
    (domain/task_fields.py): the worked reasoning, and two candidate answers ranked into chosen and rejected."""

    QA = "qa"
    INSTRUCTION = "instruction"
    CONVERSATION = "conversation"
    SUMMARIZATION = "summarization"
    REASONING = "reasoning"
    PREFERENCE = "preference"


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    PROCESSING = "processing"
    READY = "ready"
    TRAINING = "training"
    TRAINED = "trained"
    ERROR = "error"


SplitBy = Literal["source", "row"]


class ProjectConfig(BaseModel):
    """A project's settings (finetuneflow §2); unknown keys are kept for plugins."""

    model_config = ConfigDict(extra="allow")

    num_examples_target: int = Field(2000, ge=1, le=10_000_000)
    examples_per_chunk: int = Field(5, ge=1, le=100)
    max_seq_length: int = Field(2048, ge=16)
    train_eval_split: float = Field(0.9, gt=0.0, le=1.0)
    split_by: SplitBy = Field("source", description='"source": a document\'s examples all go to train or all to '
                              'eval (no leak); "row": example by example, seeded, for a project of too few '
                              'documents to hold one out (eval then shares documents with train)')
    chunk_size_tokens: int = Field(512, ge=16, le=100_000)
    chunk_overlap_tokens: int = Field(50, ge=0)
    chunker: str = "token"
    tokenizer: str = "o200k_base"
    generator: str = "extractive"
    model: str | None = None
    language: str | None = None
    system_prompt: str | None = None
    min_output_chars: int = Field(20, ge=0)
    near_duplicate_threshold: float = Field(0.85, gt=0.0, le=1.0)
    judge_threshold: float | None = Field(None, ge=1.0, le=5.0)  # judged examples scoring less (1-5) are invalid
    seed: int = 42


class Project(BaseModel):
    id: str = Field(default_factory=new_id)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    task_type: TaskType = TaskType.QA
    status: ProjectStatus = ProjectStatus.DRAFT
    config: ProjectConfig = Field(default_factory=ProjectConfig)
    base_model_id: str | None = None
    model_info: dict[str, Any] | None = None
    owner_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
