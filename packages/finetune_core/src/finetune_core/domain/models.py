"""Pydantic domain models: what flows from a Source to an exported Dataset.

These carry no persistence concerns; `finetune_core.storage` maps them to
SQLAlchemy rows explicitly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def new_id() -> str:
    """An opaque string id; clients must not parse it."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskType(StrEnum):
    QA = "qa"
    INSTRUCTION = "instruction"
    CONVERSATION = "conversation"
    SUMMARIZATION = "summarization"


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    PROCESSING = "processing"
    READY = "ready"
    TRAINING = "training"
    TRAINED = "trained"
    ERROR = "error"


class SourceKind(StrEnum):
    RAW_DOC = "raw_doc"
    DATASET_UPLOAD = "dataset_upload"


class SourceType(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    WEBSITE = "website"
    YOUTUBE = "youtube"
    CSV = "csv"
    JSONL = "jsonl"
    JSON = "json"


class SourceStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    ERROR = "error"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED)


Split = Literal["preview", "train", "eval", "unassigned"]
SplitBy = Literal["source", "row"]
Role = Literal["system", "user", "assistant"]


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


class Source(BaseModel):
    """One uploaded file, URL or attachment, and where its loading stands."""

    id: str = Field(default_factory=new_id)
    project_id: str
    name: str
    kind: SourceKind = SourceKind.RAW_DOC
    type: SourceType
    mime_type: str | None = None
    size_bytes: int = 0
    url: str | None = None
    storage_key: str | None = None
    sha256: str | None = None
    status: SourceStatus = SourceStatus.PENDING
    error_message: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PageSpan(BaseModel):
    """Characters [start, end) of Document.text come from page `number` (1-based)."""

    number: int
    start: int
    end: int


class Heading(BaseModel):
    level: int = Field(ge=1, le=6)
    title: str
    offset: int  # character offset in Document.text where the heading line starts


class Document(BaseModel):
    """Plain text plus structure and provenance: what a loader yields."""

    text: str
    title: str | None = None
    pages: list[PageSpan] = Field(default_factory=list)
    headings: list[Heading] = Field(default_factory=list)
    language: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Role
    content: str


class ExampleDraft(BaseModel):
    """An example before it is stored: from a generator or a dataset upload."""

    messages: list[Message] = Field(default_factory=list)
    evidence: str | None = None
    errors: list[str] = Field(default_factory=list)
    raw: str | None = None  # the model output it was parsed from, kept when parsing failed
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecordSet(BaseModel):
    """What a dataset-upload loader yields instead of a Document."""

    columns: list[str]
    mapping: str  # which column set was recognised, e.g. "instruction/input/output"
    records: list[ExampleDraft]
    row_count: int
    preview: list[dict[str, Any]] = Field(default_factory=list)


class Chunk(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    source_id: str
    chunk_index: int
    content: str
    token_count: int
    char_start: int = 0
    char_end: int = 0
    page_start: int | None = None
    page_end: int | None = None
    heading: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class Example(BaseModel):
    """One training record in the canonical `messages` form, with its grounding."""

    id: str = Field(default_factory=new_id)
    project_id: str
    source_id: str | None = None
    chunk_id: str | None = None
    request_key: str | None = None  # "(chunk, index)" of the generation request, for resume
    position: int = 0  # index of this example within its request's answer
    messages: list[Message]
    evidence: str | None = None
    split: Split = "unassigned"
    is_valid: bool = True
    validation_errors: list[str] = Field(default_factory=list)
    token_count: int = 0
    generator: str | None = None
    judge_score: float | None = None
    judge_reason: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    def turns(self, role: Role) -> list[str]:
        return [m.content for m in self.messages if m.role == role]

    @property
    def system(self) -> str | None:
        found = self.turns("system")
        return found[0] if found else None

    @property
    def question(self) -> str:
        """The first user turn: the question / instruction view."""
        found = self.turns("user")
        return found[0] if found else ""

    @property
    def answer(self) -> str:
        """The last assistant turn: the answer / output view."""
        found = self.turns("assistant")
        return found[-1] if found else ""

    def as_instruction(self) -> dict[str, str]:
        """The instruction/input/output view (Alpaca); `input` is split off after a blank line."""
        instruction, _, input_ = self.question.partition("\n\n")
        return {"instruction": instruction, "input": input_, "output": self.answer}

    def as_qa(self) -> dict[str, str]:
        return {"question": self.question, "answer": self.answer}


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


class ProviderKey(BaseModel):
    """A provider API key as everyone but the trainer sees it: masked, never the key."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    provider: str
    masked: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class User(BaseModel):
    """An account of the REST app; its password hash stays in storage, like a provider key's ciphertext."""

    id: str = Field(default_factory=new_id)
    email: str = Field(min_length=3, max_length=320)  # stored lower-cased
    name: str | None = Field(None, max_length=200)
    trigramme: str | None = None  # foyergpt's three-letter handle, unique, stored upper-cased
    is_active: bool = True
    is_admin: bool = False
    has_completed_onboarding: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class AuthSession(BaseModel):
    """One sign-in: the family of the access and refresh tokens issued from it, revoked as a whole.

    The id of its current refresh token stays in storage: a refresh with any other one is a reuse.
    """

    id: str = Field(default_factory=new_id)
    user_id: str
    user_agent: str | None = None
    ip_address: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None  # logout, refresh_token_reused...

    def is_active(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or utcnow())
